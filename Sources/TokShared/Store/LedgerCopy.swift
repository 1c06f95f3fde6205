/// `tok-apply copy`: moves a ledger between engines (a SQLite file into an
/// empty PostgreSQL database, and back) and proves the copy equal: the same
/// tables with the same rows (a digest per table over every row in key
/// order), hence the same audit chain, and the invariants hold in the copy.
public enum LedgerCopy {
    /// One table's content, as both sides must show it.
    public struct TableDigest: Equatable, Sendable, CustomStringConvertible {
        public var table: String
        public var rows: Int
        /// SHA-256 over the rows, each as its columns' `name=value` (or `name` alone for NULL).
        public var sha256: String
        public var description: String { "\(table): \(rows) row(s), sha256 \(sha256)" }
    }

    public struct Report: Sendable {
        public var tables: [TableDigest]
        public var auditHead: String
    }

    /// Copies every table of `source` into `destination` in one transaction.
    /// Both are migrated ledgers; the destination must be empty. The caller
    /// holds both writer locks, so neither changes meanwhile.
    public static func copy(from source: Ledger, to destination: Ledger) throws -> Report {
        let sourceTables = try tables(source.database)
        let destinationTables = try tables(destination.database)
        guard sourceTables == destinationTables else {
            throw CopyMismatch(
                message: "the two databases have different tables: \(sourceTables) and \(destinationTables)")
        }
        for table in destinationTables {
            let rows = try destination.database.scalarInt("SELECT count(*) FROM \(table)") ?? 0
            guard rows == 0 else {
                throw CopyMismatch(
                    message:
                        "\(destination.database.location) is not empty: \(table) has \(rows) row(s); copy only into an empty database"
                )
            }
        }
        let copyInto = destination.database
        try copyInto.execute(copyInto.dialect.beginWriteTransaction)
        do {
            for table in sourceTables { try copyTable(table, from: source.database, to: copyInto) }
            try copyInto.execute("COMMIT")
        } catch {
            if copyInto.inTransaction { try? copyInto.execute("ROLLBACK") }
            throw error
        }
        return try prove(source, equalTo: destination)
    }

    /// The check alone: the same tables, row for row, and no violated invariant in `copy`.
    public static func prove(_ original: Ledger, equalTo copy: Ledger) throws -> Report {
        var digests: [TableDigest] = []
        for table in try tables(original.database) {
            let expected = try digest(table, in: original.database)
            let found = try digest(table, in: copy.database)
            guard expected == found else {
                throw CopyMismatch(
                    message:
                        "\(table) differs: \(original.database.location) has \(expected.rows) row(s) (\(expected.sha256.prefix(16))…), \(copy.database.location) has \(found.rows) (\(found.sha256.prefix(16))…)"
                )
            }
            digests.append(expected)
        }
        let violations = try copy.checkInvariants()
        guard violations.isEmpty else {
            throw CopyMismatch(message: "the copy violates invariants: \(violations.joined(separator: "; "))")
        }
        let head = try copy.database.statement("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1")
        defer { head.reset() }
        return Report(tables: digests, auditHead: try head.step() ? head.text("hash") : Ledger.auditGenesis)
    }

    public struct CopyMismatch: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    static func tables(_ database: any DatabaseConnection) throws(StoreError) -> [String] {
        let query = try database.statement(database.dialect.listTables)
        defer { query.reset() }
        var names: [String] = []
        while try query.step() { names.append(query.text("name")) }
        return names.sorted()
    }

    static func columns(_ table: String, in database: any DatabaseConnection) throws(StoreError) -> [String] {
        let probe = try database.statement("SELECT * FROM \(table) LIMIT 0")
        defer { probe.reset() }
        _ = try probe.step()
        return probe.columnNames
    }

    /// Every row in the order of all its columns (NULLs first on both engines).
    static func orderedSelect(_ table: String, _ columns: [String]) -> String {
        "SELECT \(columns.joined(separator: ", ")) FROM \(table) ORDER BY "
            + columns.map { "\($0) NULLS FIRST" }.joined(separator: ", ")
    }

    private static func copyTable(
        _ table: String, from source: any DatabaseConnection,
        to destination: any DatabaseConnection
    ) throws(StoreError) {
        let names = try columns(table, in: source)
        guard Set(names) == Set(try columns(table, in: destination)) else {
            throw StoreError(.unusable, "table \(table) has different columns in the two databases")
        }
        let read = try source.statement(orderedSelect(table, names))
        defer { read.reset() }
        let insert = try destination.statement(
            "INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES ("
                + names.map { ":" + $0 }.joined(separator: ", ") + ")")
        while try read.step() {
            for (index, name) in names.enumerated() {
                // Text carries every value: integers convert back by the column's type on both engines.
                try insert.bind(name, read.isNull(at: Int32(index)) ? nil : read.text(at: Int32(index)))
            }
            try insert.run()
        }
        if let identityQuery = destination.dialect.identityColumnsQuery {
            let identities = try destination.statement(identityQuery)
            try identities.bind("table", table)
            var generated: [String] = []
            while try identities.step() { generated.append(identities.text("name")) }
            identities.reset()
            for column in generated {
                try destination.statement(destination.dialect.resetIdentity(table: table, column: column)).run()
            }
        }
    }

    static func digest(_ table: String, in database: any DatabaseConnection) throws(StoreError) -> TableDigest {
        let names = try columns(table, in: database).sorted()
        let read = try database.statement(orderedSelect(table, names))
        defer { read.reset() }
        var bytes: [UInt8] = []
        var rows = 0
        while try read.step() {
            rows += 1
            for (index, name) in names.enumerated() {
                bytes.append(contentsOf: name.utf8)
                if !read.isNull(at: Int32(index)) {
                    bytes.append(UInt8(ascii: "="))
                    bytes.append(contentsOf: read.text(at: Int32(index)).utf8)
                }
                bytes.append(0x1F)
            }
            bytes.append(0x1E)
            // Chained in 1 MiB steps: a large table is never held whole.
            if bytes.count >= 1 << 20 { bytes = Hashing.sha256(bytes) }
        }
        return TableDigest(table: table, rows: rows, sha256: Hex.encode(Hashing.sha256(bytes)))
    }
}
