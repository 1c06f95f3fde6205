/// `tok-apply --check`: re-derives what must hold in any state the engine can
/// reach, from the tables themselves. Any violation means a bug or a hand edit.
extension Ledger {
    public func checkInvariants() throws -> [String] {
        var violations: [String] = []

        // 1. Conservation per token: what users and the operator hold equals what came in.
        var credited: [String: UInt256] = [:]
        var held: [String: UInt256] = [:]
        func add(_ table: inout [String: UInt256], _ token: String, _ text: String, _ what: String) {
            guard let amount = try? Ledger.storedAmount(text) else {
                violations.append("\(what): stored amount \"\(text)\" is not canonical")
                return
            }
            guard let sum = table[token, default: .zero].adding(amount) else {
                violations.append("\(what): total of \(token) overflows")
                return
            }
            table[token] = sum
        }
        let deposits = try database.statement("SELECT token, amount, chain, tx FROM deposits")
        while try deposits.step() {
            add(&credited, deposits.text(0), deposits.text(1), "deposit \(deposits.text(2)) \(deposits.text(3))")
        }
        deposits.reset()
        let balances = try database.statement("SELECT token, available, locked, account FROM balances")
        while try balances.step() {
            add(&held, balances.text(0), balances.text(1), "balance of \(balances.text(3))")
            add(&held, balances.text(0), balances.text(2), "locked balance of \(balances.text(3))")
        }
        balances.reset()
        let fees = try database.statement("SELECT token, amount FROM fee_balances")
        while try fees.step() { add(&held, fees.text(0), fees.text(1), "fee balance") }
        fees.reset()
        for token in Set(credited.keys).union(held.keys).sorted() {
            let inflow = credited[token, default: .zero]
            let holdings = held[token, default: .zero]
            if inflow != holdings {
                violations.append("token \(token): balances and fees hold \(holdings) but deposits credited \(inflow)")
            }
        }

        // 2. Every credited deposit is registered as a request, and vice versa.
        let orphans = try database.scalarInt("""
            SELECT count(*) FROM deposits d LEFT JOIN requests r ON r.request_id = d.request_id
            WHERE r.request_id IS NULL OR r.op <> 'deposit' OR r.chain <> d.chain OR r.tx <> d.tx
            """) ?? 0
        if orphans > 0 { violations.append("\(orphans) deposit(s) without a matching request row") }
        let missing = try database.scalarInt("""
            SELECT count(*) FROM requests r LEFT JOIN deposits d ON d.chain = r.chain AND d.tx = r.tx
            WHERE r.op = 'deposit' AND d.tx IS NULL
            """) ?? 0
        if missing > 0 { violations.append("\(missing) deposit request(s) without a credited deposit") }

        // 3. The audit trail's hash chain is unbroken.
        var previous = Ledger.auditGenesis
        let audit = try database.statement("SELECT seq, prev_hash, hash, body FROM audit ORDER BY seq")
        while try audit.step() {
            let seq = audit.int64(0)
            if audit.text(1) != previous {
                violations.append("audit entry \(seq): prev_hash does not match the entry before it")
            }
            let expected = Ledger.auditHash(previous: audit.text(1), body: audit.text(3))
            if audit.text(2) != expected {
                violations.append("audit entry \(seq): hash does not match its content")
            }
            previous = audit.text(2)
        }
        audit.reset()
        return violations
    }
}
