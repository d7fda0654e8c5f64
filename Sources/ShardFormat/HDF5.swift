// A thin Swift face over the HDF5 C library for what shards need: files, chunked integer datasets
// of rank 1 or 2 read and written by row ranges, and scalar / string attributes.
// Every C call is checked; a failure throws `HDF5Error` naming the file, the object and the call,
// with HDF5's own innermost message. Handles are owned by `HDF5Handle`, closed in `deinit`
// (files we write are also closed explicitly with `try`, since closing flushes and can fail).

import CHDF5
import Foundation

public struct HDF5Error: Error, CustomStringConvertible {
    public let path: String
    public let object: String?
    public let reason: String
    public init(path: String, object: String? = nil, reason: String) {
        self.path = path
        self.object = object
        self.reason = reason
    }
    public var description: String {
        if let object { return "\(path): \(object): \(reason)" }
        return "\(path): \(reason)"
    }
}

/// Where an HDF5 call happens, for error messages.
package struct HDF5Context {
    package let path: String
    package let object: String?

    /// Throws unless `status` (herr_t or hid_t) is non-negative.
    @discardableResult
    package func check<T: BinaryInteger>(_ status: T, _ call: String) throws -> T {
        guard status >= 0 else { throw failure(call) }
        return status
    }

    package func failure(_ call: String) -> HDF5Error {
        var text = [CChar](repeating: 0, count: 1024)
        chdf5_last_error_message(&text)
        var detail = String(cString: text)
        // A failed write or read (sec2 driver) describes itself over several lines, the system's
        // reason among them ("error message = 'No space left on device'"): keep that reason.
        if let head = ["file write failed", "file read failed"].first(where: { detail.hasPrefix($0) }),
           let quoted = detail.range(of: "error message = '"),
           let end = detail[quoted.upperBound...].firstIndex(of: "'") {
            detail = head + ": " + detail[quoted.upperBound..<end]
        }
        detail = detail.split(whereSeparator: \.isNewline).joined(separator: " ")
        return HDF5Error(path: path, object: object, reason: "\(call) failed" + (detail.isEmpty ? "" : ": \(detail)"))
    }
}

/// Owns one HDF5 identifier and closes it with the matching H5?close.
package final class HDF5Handle {
    package enum Kind { case file, dataset, dataspace, datatype, attribute, propertyList }
    package let id: hid_t
    package let kind: Kind
    private var isOpen = true

    package init(_ id: hid_t, _ kind: Kind) {
        self.id = id
        self.kind = kind
    }

    /// Closes now; returns the status (negative on failure) so writers can report it.
    @discardableResult
    package func close() -> herr_t {
        guard isOpen else { return 0 }
        isOpen = false
        switch kind {
        case .file: return H5Fclose(id)
        case .dataset: return H5Dclose(id)
        case .dataspace: return H5Sclose(id)
        case .datatype: return H5Tclose(id)
        case .attribute: return H5Aclose(id)
        case .propertyList: return H5Pclose(id)
        }
    }

    deinit { close() }
}

/// How a dataset's integers are stored in the file.
package struct HDF5IntegerType {
    package let bytes: Int
    package let isSigned: Bool
}

/// An attribute value as shards use them (others found in a file are skipped when reading).
public enum ShardAttribute: Equatable, CustomStringConvertible {
    case int(Int64)
    case double(Double)
    case string(String)
    case strings([String])

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .string(let v): return v
        case .strings(let v): return v.joined(separator: ", ")
        }
    }
}

package final class HDF5File {
    package let path: String
    package let handle: HDF5Handle
    package var id: hid_t { handle.id }

    private init(path: String, handle: HDF5Handle) {
        self.path = path
        self.handle = handle
    }

    private static let silenced: Void = { chdf5_silence_errors() }()

    /// Creates (truncating) a file with reproducible bytes: no object time stamps, HDF5 1.8 format
    /// (readable by every HDF5 since 2008, h5py included; allows attributes larger than 64 KiB).
    package static func create(path: String) throws -> HDF5File {
        _ = silenced
        let context = HDF5Context(path: path, object: nil)
        let fcpl = HDF5Handle(try context.check(H5Pcreate(chdf5_p_file_create()), "H5Pcreate(file create)"), .propertyList)
        try context.check(H5Pset_obj_track_times(fcpl.id, false), "H5Pset_obj_track_times(root group)")
        let fapl = HDF5Handle(try context.check(H5Pcreate(chdf5_p_file_access()), "H5Pcreate(file access)"), .propertyList)
        try context.check(H5Pset_libver_bounds(fapl.id, H5F_LIBVER_V18, H5F_LIBVER_V18), "H5Pset_libver_bounds")
        let id = try context.check(H5Fcreate(path, chdf5_f_acc_trunc(), fcpl.id, fapl.id), "H5Fcreate")
        return HDF5File(path: path, handle: HDF5Handle(id, .file))
    }

    package static func openReadOnly(path: String) throws -> HDF5File {
        _ = silenced
        let context = HDF5Context(path: path, object: nil)
        guard FileManager.default.fileExists(atPath: path) else {
            throw HDF5Error(path: path, reason: "no such file")
        }
        guard H5Fis_hdf5(path) > 0 else { throw HDF5Error(path: path, reason: "not an HDF5 file") }
        let id = try context.check(H5Fopen(path, chdf5_f_acc_rdonly(), chdf5_p_default()), "H5Fopen")
        return HDF5File(path: path, handle: HDF5Handle(id, .file))
    }

    /// Flushes and closes; throws if HDF5 cannot write what it buffered.
    package func close() throws {
        let context = HDF5Context(path: path, object: nil)
        try context.check(H5Fflush(id, H5F_SCOPE_LOCAL), "H5Fflush")
        try context.check(handle.close(), "H5Fclose")
    }

    package func hasObject(_ name: String) -> Bool {
        H5Lexists(id, name, chdf5_p_default()) > 0
    }

    /// Creates an integer dataset of `dims` (first dimension extendable), chunked by `chunk`,
    /// optionally byte-shuffled, gzip level `deflateLevel`, no time stamps, 0 as fill value.
    /// `fileType` is the on-disk type (e.g. little-endian int32).
    package func createDataset(_ name: String, fileType: hid_t, dims: [Int], chunk: [Int], shuffle: Bool = false,
                       deflateLevel: UInt32) throws -> HDF5Dataset {
        let context = HDF5Context(path: path, object: name)
        precondition(dims.count == chunk.count && !dims.isEmpty)
        var current = dims.map { hsize_t($0) }
        var maximum = current
        maximum[0] = chdf5_s_unlimited()
        let space = HDF5Handle(try context.check(H5Screate_simple(Int32(dims.count), &current, &maximum), "H5Screate_simple"), .dataspace)
        let dcpl = HDF5Handle(try context.check(H5Pcreate(chdf5_p_dataset_create()), "H5Pcreate(dataset create)"), .propertyList)
        var chunkDims = chunk.map { hsize_t($0) }
        try context.check(H5Pset_chunk(dcpl.id, Int32(chunk.count), &chunkDims), "H5Pset_chunk")
        if shuffle { try context.check(H5Pset_shuffle(dcpl.id), "H5Pset_shuffle") }
        try context.check(H5Pset_deflate(dcpl.id, deflateLevel), "H5Pset_deflate")
        try context.check(H5Pset_obj_track_times(dcpl.id, false), "H5Pset_obj_track_times")
        // The last chunk is usually partial; without an explicit fill written at allocation HDF5
        // compresses whatever memory held beyond the extent, and identical shards differ in bytes.
        var zero: Int64 = 0
        try context.check(H5Pset_fill_value(dcpl.id, chdf5_native_int64(), &zero), "H5Pset_fill_value")
        try context.check(H5Pset_fill_time(dcpl.id, H5D_FILL_TIME_ALLOC), "H5Pset_fill_time")
        let id = try context.check(H5Dcreate2(self.id, name, fileType, space.id, chdf5_p_default(), dcpl.id, chdf5_p_default()), "H5Dcreate2")
        return HDF5Dataset(file: self, name: name, handle: HDF5Handle(id, .dataset))
    }

    package func openDataset(_ name: String) throws -> HDF5Dataset {
        guard hasObject(name) else { throw HDF5Error(path: path, object: name, reason: "missing dataset") }
        let context = HDF5Context(path: path, object: name)
        let id = try context.check(H5Dopen2(self.id, name, chdf5_p_default()), "H5Dopen2")
        guard H5Iget_type(id) == H5I_DATASET else {
            H5Oclose(id)
            throw HDF5Error(path: path, object: name, reason: "is not a dataset")
        }
        return HDF5Dataset(file: self, name: name, handle: HDF5Handle(id, .dataset))
    }

    // MARK: Root attributes

    package func writeAttribute(_ name: String, _ value: ShardAttribute) throws {
        let context = HDF5Context(path: path, object: "attribute \(name)")
        switch value {
        case .int(var v):
            let space = HDF5Handle(try context.check(H5Screate(H5S_SCALAR), "H5Screate"), .dataspace)
            let attr = HDF5Handle(try context.check(H5Acreate2(id, name, chdf5_std_i64le(), space.id, chdf5_p_default(), chdf5_p_default()), "H5Acreate2"), .attribute)
            try context.check(H5Awrite(attr.id, chdf5_native_int64(), &v), "H5Awrite")
        case .double(var v):
            let space = HDF5Handle(try context.check(H5Screate(H5S_SCALAR), "H5Screate"), .dataspace)
            let attr = HDF5Handle(try context.check(H5Acreate2(id, name, chdf5_ieee_f64le(), space.id, chdf5_p_default(), chdf5_p_default()), "H5Acreate2"), .attribute)
            try context.check(H5Awrite(attr.id, chdf5_native_double(), &v), "H5Awrite")
        case .string(let v):
            try writeStrings(name, [v], scalar: true, context: context)
        case .strings(let v):
            try writeStrings(name, v, scalar: false, context: context)
        }
    }

    /// Fixed-length UTF-8 strings, NUL-padded to the longest value (h5py reads them back as `bytes`).
    /// Not variable-length: those live in HDF5's global heap, and a damaged global heap can make the
    /// library loop or crash while reading them; a fixed-length value sits in the attribute itself.
    private func writeStrings(_ name: String, _ values: [String], scalar: Bool, context: HDF5Context) throws {
        let bytes = values.map { Array($0.utf8) }
        let width = max(1, bytes.map(\.count).max() ?? 1)
        let type = HDF5Handle(try context.check(H5Tcopy(chdf5_c_s1()), "H5Tcopy"), .datatype)
        try context.check(H5Tset_size(type.id, width), "H5Tset_size")
        try context.check(H5Tset_strpad(type.id, H5T_STR_NULLPAD), "H5Tset_strpad")
        try context.check(H5Tset_cset(type.id, H5T_CSET_UTF8), "H5Tset_cset")
        var count = hsize_t(values.count)
        let space = HDF5Handle(try context.check(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nil), "H5Screate"), .dataspace)
        let attr = HDF5Handle(try context.check(H5Acreate2(id, name, type.id, space.id, chdf5_p_default(), chdf5_p_default()), "H5Acreate2"), .attribute)
        var packed = [UInt8](repeating: 0, count: width * max(values.count, 1))
        for (i, value) in bytes.enumerated() { packed.replaceSubrange((i * width)..<(i * width + value.count), with: value) }
        try context.check(H5Awrite(attr.id, type.id, &packed), "H5Awrite")
    }

    /// Variable-length UTF-8 strings in memory (for reading what h5py and other tools write).
    private static func variableUTF8StringType(_ context: HDF5Context) throws -> HDF5Handle {
        let type = HDF5Handle(try context.check(H5Tcopy(chdf5_c_s1()), "H5Tcopy"), .datatype)
        try context.check(H5Tset_size(type.id, chdf5_variable_size()), "H5Tset_size")
        try context.check(H5Tset_cset(type.id, H5T_CSET_UTF8), "H5Tset_cset")
        return type
    }

    /// Largest string attribute read (64 MiB; ours are a few KiB, source_files of a huge corpus a few MiB).
    package static let maxAttributeBytes = 64 << 20

    /// Names of the root group's attributes, in name order.
    package func attributeNames() throws -> [String] {
        let context = HDF5Context(path: path, object: "root attributes")
        final class Names { var list: [String] = [] }
        let names = Names()
        var index: hsize_t = 0
        let status = withExtendedLifetime(names) {
            H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, data in
                let names = Unmanaged<Names>.fromOpaque(data!).takeUnretainedValue()
                names.list.append(String(cString: name!))
                return 0
            }, Unmanaged.passUnretained(names).toOpaque())
        }
        try context.check(status, "H5Aiterate2")
        return names.list
    }

    /// Reads a root attribute if it is an integer, float or string (scalar, or a 1-D string array); nil otherwise.
    package func readAttribute(_ name: String) throws -> ShardAttribute? {
        let context = HDF5Context(path: path, object: "attribute \(name)")
        let attr = HDF5Handle(try context.check(H5Aopen(id, name, chdf5_p_default()), "H5Aopen"), .attribute)
        let type = HDF5Handle(try context.check(H5Aget_type(attr.id), "H5Aget_type"), .datatype)
        let space = HDF5Handle(try context.check(H5Aget_space(attr.id), "H5Aget_space"), .dataspace)
        let points = Int(try context.check(H5Sget_simple_extent_npoints(space.id), "H5Sget_simple_extent_npoints"))
        let rank = try context.check(H5Sget_simple_extent_ndims(space.id), "H5Sget_simple_extent_ndims")
        switch H5Tget_class(type.id) {
        case H5T_INTEGER where points == 1:
            var v: Int64 = 0
            try context.check(H5Aread(attr.id, chdf5_native_int64(), &v), "H5Aread")
            return .int(v)
        case H5T_FLOAT where points == 1:
            var v: Double = 0
            try context.check(H5Aread(attr.id, chdf5_native_double(), &v), "H5Aread")
            return .double(v)
        case H5T_STRING where rank <= 1:
            let strings = try readStrings(attr: attr, fileType: type, count: points, context: context)
            return rank == 0 ? .string(strings.first ?? "") : .strings(strings)
        default:
            return nil
        }
    }

    private func readStrings(attr: HDF5Handle, fileType: HDF5Handle, count: Int, context: HDF5Context) throws -> [String] {
        guard count >= 0 && count <= Self.maxAttributeBytes / 8 else {
            throw HDF5Error(path: path, object: context.object, reason: "\(count) strings, more than the \(Self.maxAttributeBytes / 8) accepted")
        }
        if H5Tis_variable_str(fileType.id) > 0 {
            let memType = try HDF5File.variableUTF8StringType(context)
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            try context.check(H5Aread(attr.id, memType.id, &pointers), "H5Aread")
            defer { pointers.forEach { if let p = $0 { H5free_memory(p) } } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        // Fixed-length strings (numpy "S" arrays from h5py): read the raw bytes, cut at NUL.
        let size = H5Tget_size(fileType.id)
        guard size > 0 else { throw context.failure("H5Tget_size") }
        // A damaged header can claim any size: refuse more than any attribute of ours could hold.
        guard size <= Self.maxAttributeBytes / max(count, 1) else {
            throw HDF5Error(path: path, object: context.object, reason: "string attribute of \(count) × \(size) bytes, more than the \(Self.maxAttributeBytes) accepted")
        }
        var bytes = [UInt8](repeating: 0, count: size * count)
        try context.check(H5Aread(attr.id, fileType.id, &bytes), "H5Aread")
        return (0..<count).map { i in
            let slice = bytes[(i * size)..<((i + 1) * size)]
            let end = slice.firstIndex(of: 0) ?? slice.endIndex
            return String(decoding: slice[slice.startIndex..<end], as: UTF8.self)
        }
    }
}

/// One dataset of integers, read and written by ranges of rows (the first dimension).
package final class HDF5Dataset {
    package let file: HDF5File
    package let name: String
    package let handle: HDF5Handle
    package var id: hid_t { handle.id }
    private var context: HDF5Context { HDF5Context(path: file.path, object: name) }

    package init(file: HDF5File, name: String, handle: HDF5Handle) {
        self.file = file
        self.name = name
        self.handle = handle
    }

    /// Current dimensions.
    package func shape() throws -> [Int] {
        let space = HDF5Handle(try context.check(H5Dget_space(id), "H5Dget_space"), .dataspace)
        let rank = Int(try context.check(H5Sget_simple_extent_ndims(space.id), "H5Sget_simple_extent_ndims"))
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        try context.check(H5Sget_simple_extent_dims(space.id, &dims, nil), "H5Sget_simple_extent_dims")
        return dims.prefix(rank).map { Int($0) }
    }

    /// The stored integer type, or nil if the dataset does not hold integers.
    package func integerType() throws -> HDF5IntegerType? {
        let type = HDF5Handle(try context.check(H5Dget_type(id), "H5Dget_type"), .datatype)
        guard H5Tget_class(type.id) == H5T_INTEGER else { return nil }
        return HDF5IntegerType(bytes: H5Tget_size(type.id), isSigned: H5Tget_sign(type.id) == H5T_SGN_2)
    }

    /// Chunk dimensions, or nil for a contiguous or compact dataset.
    package func chunkShape() throws -> [Int]? {
        let dcpl = HDF5Handle(try context.check(H5Dget_create_plist(id), "H5Dget_create_plist"), .propertyList)
        guard H5Pget_layout(dcpl.id) == H5D_CHUNKED else { return nil }
        var dims = [hsize_t](repeating: 0, count: 8)
        let rank = Int(try context.check(H5Pget_chunk(dcpl.id, 8, &dims), "H5Pget_chunk"))
        return dims.prefix(rank).map { Int($0) }
    }

    package func setRows(_ rows: Int, rowWidth: Int?) throws {
        var dims: [hsize_t] = rowWidth.map { [hsize_t(rows), hsize_t($0)] } ?? [hsize_t(rows)]
        try context.check(H5Dset_extent(id, &dims), "H5Dset_extent")
    }

    /// Writes `values` (row-major, `rows.count` rows of `rowWidth`, nil for rank 1) at rows `rows`.
    package func write<T>(rows: Range<Int>, rowWidth: Int?, memoryType: hid_t, _ values: UnsafeBufferPointer<T>) throws {
        assert(values.count == rows.count * (rowWidth ?? 1))
        guard !rows.isEmpty else { return }
        try transfer(rows: rows, rowWidth: rowWidth) { memSpace, fileSpace in
            try context.check(H5Dwrite(id, memoryType, memSpace, fileSpace, chdf5_p_default(), values.baseAddress), "H5Dwrite")
        }
    }

    /// Stores one chunk's bytes as they go to disk, already through the dataset's filters (the
    /// pipeline is bypassed): `origin` is the chunk's first element (a multiple of the chunk shape,
    /// inside the current extent); bit i of `skippedFilters` marks filter i as not applied.
    package func writeChunk(origin: [Int], skippedFilters: UInt32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = origin.map { hsize_t($0) }
        try context.check(H5Dwrite_chunk(id, chdf5_p_default(), skippedFilters, &offset, bytes.count, bytes.baseAddress),
                          "H5Dwrite_chunk")
    }

    /// Reads rows `rows` into `values` (row-major), converting to `memoryType`.
    package func read<T>(rows: Range<Int>, rowWidth: Int?, memoryType: hid_t, into values: UnsafeMutableBufferPointer<T>) throws {
        assert(values.count >= rows.count * (rowWidth ?? 1))
        guard !rows.isEmpty else { return }
        try transfer(rows: rows, rowWidth: rowWidth) { memSpace, fileSpace in
            try context.check(H5Dread(id, memoryType, memSpace, fileSpace, chdf5_p_default(), values.baseAddress), "H5Dread")
        }
    }

    private func transfer(rows: Range<Int>, rowWidth: Int?, _ body: (hid_t, hid_t) throws -> Void) throws {
        let fileSpace = HDF5Handle(try context.check(H5Dget_space(id), "H5Dget_space"), .dataspace)
        var start: [hsize_t] = rowWidth == nil ? [hsize_t(rows.lowerBound)] : [hsize_t(rows.lowerBound), 0]
        var count: [hsize_t] = rowWidth.map { [hsize_t(rows.count), hsize_t($0)] } ?? [hsize_t(rows.count)]
        try context.check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &count, nil), "H5Sselect_hyperslab")
        let memSpace = HDF5Handle(try context.check(H5Screate_simple(Int32(count.count), &count, nil), "H5Screate_simple"), .dataspace)
        try body(memSpace.id, fileSpace.id)
    }

    package func close() throws {
        try context.check(handle.close(), "H5Dclose")
    }
}
