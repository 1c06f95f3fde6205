/// Tables only block processing writes (token state: tokens, balances,
/// invoices, offers, matches). Every write to them while a block connects goes
/// through `BlockWriter.put` / `remove`, which records the row before and
/// after as undo data; disconnecting the block puts every row back as it was,
/// newest first, after checking the row is still what the block left. No
/// inverse operation is written by hand, so none can be forgotten.
struct JournaledTable: Sendable {
    enum Kind: Sendable { case text, integer }

    let name: String
    let columns: [(name: String, kind: Kind)]
    /// The primary key's columns (all of them among `columns`).
    let key: [String]
    // Built once: every journaled read and write names its statement by this text (perf of bench/market.sh's
    // orders: building them on each call was 9 % of tok-apply's time).
    let selectSQL: String
    let upsertSQL: String
    let deleteSQL: String

    init(name: String, columns: [(name: String, kind: Kind)], key: [String]) {
        self.name = name
        self.columns = columns
        self.key = key
        let names = columns.map(\.name)
        let keyCondition = key.map { "\($0) = :\($0)" }.joined(separator: " AND ")
        let updates = names.filter { !key.contains($0) }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        selectSQL = "SELECT \(names.joined(separator: ", ")) FROM \(name) WHERE \(keyCondition)"
        upsertSQL =
            "INSERT INTO \(name) (\(names.joined(separator: ", "))) VALUES (\(names.map { ":" + $0 }.joined(separator: ", "))) "
            + "ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(updates)"
        deleteSQL = "DELETE FROM \(name) WHERE \(keyCondition)"
    }

    static let all: [JournaledTable] = [.tokens, .tokenBalances, .invoices, .offers, .matches, .approvals]

    static func named(_ name: String) -> JournaledTable? { all.first { $0.name == name } }
}

/// One column's value, as the journal keeps it (and as JSON carries it).
enum JournalValue: Equatable, Sendable {
    case text(String)
    case integer(Int64)
    case null

    var json: JSON {
        switch self {
        case .text(let text): return .string(text)
        case .integer(let value): return .integer(value)
        case .null: return .null()
        }
    }

    init?(_ json: JSON?, kind: JournaledTable.Kind) {
        guard let json else { return nil }
        if json.isNull { self = .null; return }
        switch kind {
        case .text: guard let text = json.stringValue else { return nil }; self = .text(text)
        case .integer: guard let value = json.int64Value else { return nil }; self = .integer(value)
        }
    }

    var text: String? { if case .text(let text) = self { return text } else { return nil } }
    var integer: Int64? { if case .integer(let value) = self { return value } else { return nil } }
}

typealias JournalRow = [String: JournalValue]

extension Ledger {
    /// The row of `table` with `key`'s values, or nil.
    func journalRow(_ table: JournaledTable, key: JournalRow) throws(StoreError) -> JournalRow? {
        let query = try database.statement(table.selectSQL)
        defer { query.reset() }
        for column in table.key { try Ledger.bind(query, column, key[column] ?? .null) }
        guard try query.step() else { return nil }
        var row: JournalRow = [:]
        for column in table.columns {
            if query.isNull(column.name) {
                row[column.name] = .null
            } else {
                switch column.kind {
                case .text: row[column.name] = .text(query.text(column.name))
                case .integer: row[column.name] = .integer(query.int64(column.name))
                }
            }
        }
        return row
    }

    func writeJournalRow(_ table: JournaledTable, _ row: JournalRow) throws(StoreError) {
        let upsert = try database.statement(table.upsertSQL)
        for column in table.columns { try Ledger.bind(upsert, column.name, row[column.name] ?? .null) }
        try upsert.run()
    }

    func deleteJournalRow(_ table: JournaledTable, key: JournalRow) throws(StoreError) {
        let delete = try database.statement(table.deleteSQL)
        for column in table.key { try Ledger.bind(delete, column, key[column] ?? .null) }
        try delete.run()
    }

    static func bind(_ statement: any DatabaseStatement, _ name: String, _ value: JournalValue) throws(StoreError) {
        switch value {
        case .text(let text): try statement.bind(name, text)
        case .integer(let number): try statement.bind(name, number)
        case .null: try statement.bind(name, nil as String?)
        }
    }

    static func rowJSON(_ row: JournalRow?) -> JSON {
        guard let row else { return .null() }
        let object = JSON.object()
        for (column, value) in row { object.set(column, value.json) }
        return object
    }

    static func row(_ json: JSON?, table: JournaledTable) -> JournalRow?? {
        guard let json else { return .none }
        if json.isNull { return .some(nil) }
        var row: JournalRow = [:]
        for column in table.columns {
            guard let value = JournalValue(json[column.name], kind: column.kind) else { return .none }
            row[column.name] = value
        }
        return .some(row)
    }
}

extension BlockWriter {
    /// Writes `row` (all its table's columns) and its undo data.
    mutating func put(_ table: JournaledTable, _ row: JournalRow) throws {
        let key = row.filter { table.key.contains($0.key) }
        let before = try ledger.journalRow(table, key: key)
        try ledger.writeJournalRow(table, row)
        try journal(table, key: key, before: before, after: row)
    }

    /// Deletes the row with `key` and records it.
    mutating func remove(_ table: JournaledTable, key: JournalRow) throws {
        let before = try ledger.journalRow(table, key: key)
        guard before != nil else { return }
        try ledger.deleteJournalRow(table, key: key)
        try journal(table, key: key, before: before, after: nil)
    }

    private mutating func journal(
        _ table: JournaledTable, key: JournalRow, before: JournalRow?, after: JournalRow?
    ) throws {
        let body = JSON.object()
        body.set("table", string: table.name)
        body.set("key", Ledger.rowJSON(key))
        body.set("before", Ledger.rowJSON(before))
        body.set("after", Ledger.rowJSON(after))
        try undo("row", body)
        changedRows.append((table.name, key, after))
    }
}

extension BlockUndoer {
    /// Puts one journaled row back as it was before the block, after checking
    /// that it is still what the block left.
    func undoRow(_ body: JSON) throws {
        guard let name = body.string(at: "table"), let table = JournaledTable.named(name),
            case .some(let key?) = Ledger.row(body["key"], table: keyTable(table)),
            case .some(let before) = Ledger.row(body["before"], table: table),
            case .some(let after) = Ledger.row(body["after"], table: table)
        else {
            throw TokError(.internalError, "undo data of block \(row.hash) holds an unreadable row step")
        }
        let current = try ledger.journalRow(table, key: key)
        guard current == after else {
            throw TokError(.internalError, "undoing block \(row.hash): a row of \(name) is not what the block left")
        }
        if let before {
            try ledger.writeJournalRow(table, before)
        } else {
            try ledger.deleteJournalRow(table, key: key)
        }
    }

    /// The key columns alone, to read a key object.
    private func keyTable(_ table: JournaledTable) -> JournaledTable {
        JournaledTable(name: table.name, columns: table.columns.filter { table.key.contains($0.name) }, key: table.key)
    }
}
