#if canImport(Glibc)
import Glibc
#endif
import CLibPQ

/// A statement prepared on the server under its own name. Parameters are sent
/// as text, results come back as text; the first `step` executes and holds
/// the whole result, later steps walk its rows.
public final class PostgreSQLStatement: DatabaseStatement {
    unowned let connection: PostgreSQLConnection
    let name: String
    /// The SQL as the server sees it (`$1`, `$2`, … for `:name`).
    let serverSQL: String
    /// Parameter number (0-based) by name; a name used twice shares its number.
    private let parameters: [String: Int]
    /// The bound values, NUL-terminated, one after the other in `storage`;
    /// `offsets[i]` is -1 for NULL (or not bound).
    private var storage: [CChar] = []
    private var offsets: [Int]
    private var preparedSession = 0
    private var result: OpaquePointer?
    private var row = -1
    private var rowCount = 0
    private var columns: [String: Int32]?

    init(connection: PostgreSQLConnection, name: String, sql: String) throws(StoreError) {
        self.connection = connection
        self.name = name
        let rewritten = PostgreSQLStatement.numberParameters(sql)
        serverSQL = rewritten.sql
        parameters = rewritten.names
        offsets = Array(repeating: -1, count: rewritten.names.count)
        storage.reserveCapacity(256)
    }

    deinit { if let result { PQclear(result) } }

    /// Rewrites `:name` placeholders as `$n`, outside quoted text, comments and `::` casts.
    static func numberParameters(_ sql: String) -> (sql: String, names: [String: Int]) {
        let bytes = Array(sql.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var names: [String: Int] = [:]
        var index = 0
        func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x5F
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                // Copy the quoted run whole (a doubled quote inside just reopens it).
                out.append(byte)
                index += 1
                while index < bytes.count, bytes[index] != byte { out.append(bytes[index]); index += 1 }
                if index < bytes.count { out.append(byte); index += 1 }
            case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "-"):
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { out.append(bytes[index]); index += 1 }
            case UInt8(ascii: ":") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: ":"):
                out.append(contentsOf: [byte, byte])
                index += 2
            case UInt8(ascii: ":") where index + 1 < bytes.count && isNameByte(bytes[index + 1]):
                var end = index + 1
                while end < bytes.count, isNameByte(bytes[end]) { end += 1 }
                let name = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
                let number = names[name] ?? names.count
                names[name] = number
                out.append(contentsOf: Array("$\(number + 1)".utf8))
                index = end
            default:
                out.append(byte)
                index += 1
            }
        }
        return (String(decoding: out, as: UTF8.self), names)
    }

    /// Prepares on the current session if not done yet (a new session after a reconnect has none).
    private func prepareIfNeeded() throws(StoreError) {
        guard preparedSession != connection.session else { return }
        let prepared = PQprepare(try connection.connection, name, serverSQL, Int32(parameters.count), nil)
        defer { PQclear(prepared) }
        guard let prepared, PQresultStatus(prepared) == PGRES_COMMAND_OK else { throw connection.error(prepared) }
        preparedSession = connection.session
    }

    func prepareForReuse() {
        reset()
        storage.removeAll(keepingCapacity: true)
        for index in offsets.indices { offsets[index] = -1 }
    }

    public func reset() {
        if let result { PQclear(result) }
        result = nil
        row = -1
        rowCount = 0
    }

    private func parameter(_ name: String) -> Int {
        guard let index = parameters[name] else { preconditionFailure("the statement has no parameter :\(name)") }
        return index
    }

    /// Appends the value; false (nothing kept) when it holds a NUL, which
    /// PostgreSQL text cannot: SQLite would keep it, so refuse rather than cut.
    private func store(_ index: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.contains(0) else { return false }
        offsets[index] = storage.count
        for byte in bytes { storage.append(CChar(bitPattern: byte)) }
        storage.append(0)
        return true
    }

    private func refuseNul(_ name: String) -> StoreError {
        StoreError(.constraint, "text for :\(name) contains a NUL character")
    }

    @discardableResult
    public func bind(_ name: String, _ text: String) throws(StoreError) -> PostgreSQLStatement {
        let index = parameter(name)
        var copy = text
        guard copy.withUTF8({ store(index, $0) }) else { throw refuseNul(name) }
        return self
    }

    @discardableResult
    public func bind(_ name: String, utf8 bytes: [UInt8]) throws(StoreError) -> PostgreSQLStatement {
        let index = parameter(name)
        guard bytes.withUnsafeBufferPointer({ store(index, $0) }) else { throw refuseNul(name) }
        return self
    }

    @discardableResult
    public func bind(_ name: String, _ value: Int64) throws(StoreError) -> PostgreSQLStatement {
        try bind(name, String(value))
    }

    @discardableResult
    public func bind(_ name: String, _ text: String?) throws(StoreError) -> PostgreSQLStatement {
        guard let text else {
            offsets[parameter(name)] = -1
            return self
        }
        return try bind(name, text)
    }

    @discardableResult
    public func bind(_ name: String, _ value: Int64?) throws(StoreError) -> PostgreSQLStatement {
        guard let value else {
            offsets[parameter(name)] = -1
            return self
        }
        return try bind(name, value)
    }

    public func step() throws(StoreError) -> Bool {
        if result != nil {
            row += 1
            return row < rowCount
        }
        try prepareIfNeeded()
        let server = try connection.connection
        let executed: OpaquePointer? = storage.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress
            let values: [UnsafePointer<CChar>?] = offsets.map { offset in offset < 0 ? nil : base.map { $0 + offset } }
            return PQexecPrepared(server, name, Int32(values.count), values, nil, nil, 0)
        }
        guard let executed else { throw connection.error(nil) }
        switch PQresultStatus(executed) {
        case PGRES_TUPLES_OK:
            result = executed
            rowCount = Int(PQntuples(executed))
            row = 0
            if columns == nil { columns = PostgreSQLStatement.columnIndexes(executed) }
            return rowCount > 0
        case PGRES_COMMAND_OK:
            connection.changes = Int(String(cString: PQcmdTuples(executed))) ?? 0
            // Keep an empty result so a second step says "done" without running it again.
            result = executed
            rowCount = 0
            row = 0
            return false
        default:
            defer { PQclear(executed) }
            throw connection.error(executed)
        }
    }

    private static func columnIndexes(_ result: OpaquePointer) -> [String: Int32] {
        var columns: [String: Int32] = [:]
        for index in 0..<PQnfields(result) { columns[String(cString: PQfname(result, index))] = index }
        return columns
    }

    private func column(_ name: String) -> Int32 {
        guard let index = columns?[name] else { preconditionFailure("the statement has no result column \(name)") }
        return index
    }

    public var columnNames: [String] {
        guard let result else { return [] }
        return (0..<PQnfields(result)).map { String(cString: PQfname(result, $0)) }
    }

    public func isNull(_ column: String) -> Bool { isNull(at: self.column(column)) }
    public func int64(_ column: String) -> Int64 { int64(at: self.column(column)) }
    public func text(_ column: String) -> String { text(at: self.column(column)) }

    private var currentRow: Int32 {
        precondition(result != nil && row >= 0 && row < rowCount, "no current row")
        return Int32(row)
    }

    public func isNull(at index: Int32) -> Bool { PQgetisnull(result, currentRow, index) == 1 }

    public func int64(at index: Int32) -> Int64 {
        guard let value = PQgetvalue(result, currentRow, index) else { return 0 }
        return strtoll(value, nil, 10)
    }

    public func text(at index: Int32) -> String {
        guard let value = PQgetvalue(result, currentRow, index) else { return "" }
        return String(cString: value)
    }
}
