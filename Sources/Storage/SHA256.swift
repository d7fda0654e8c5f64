// SHA-256 fingerprints (vocab.txt in shard attributes and checkpoints), through OpenSSL's libcrypto.

import CCrypto
import Foundation

public enum SHA256 {
    /// Lower-case hex digest of `bytes`.
    public static func hex<Bytes: ContiguousBytes>(_ bytes: Bytes) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// Digest of a file, read in 1 MiB pieces (shards can be far larger than memory should hold).
    /// `bytes` is the number of bytes hashed.
    public static func hexAndSize(ofFile path: String) throws -> (hex: String, bytes: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(path: path, reason: "cannot open file to fingerprint it (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard let context = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex(SHA-256) failed")
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { piece.deallocate() }
        var total = 0
        while true {
            let got = read(fd, piece.baseAddress, piece.count)
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw StorageError(path: path, reason: "read failed at byte \(total) (\(String(cString: strerror(errno))))") }
            if got == 0 { break }
            precondition(EVP_DigestUpdate(context, piece.baseAddress, got) == 1, "EVP_DigestUpdate failed")
            total += got
        }
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &digest, &length) == 1 && length == 32, "EVP_DigestFinal_ex failed")
        return (digest.map { String(format: "%02x", $0) }.joined(), total)
    }

    public static func hex(ofFile path: String) throws -> String {
        try hexAndSize(ofFile: path).hex
    }
}
