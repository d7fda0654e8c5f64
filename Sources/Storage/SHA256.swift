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

    public static func hex(ofFile path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError(path: path, reason: "cannot read file to fingerprint it")
        }
        return hex(data)
    }
}
