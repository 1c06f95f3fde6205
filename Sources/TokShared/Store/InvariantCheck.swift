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
        let deposits = try database.statement("SELECT token, credited, chain, tx FROM deposits")
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
        // Confirmed payouts left the system; their fees stayed (in fee_balances).
        var paidOut: [String: UInt256] = [:]
        var lockedByPayouts: [String: UInt256] = [:]
        let payouts = try database.statement("SELECT token, quantity, fee, state, account, request_id, charged_fee FROM payouts")
        while try payouts.step() {
            let token = payouts.text(0), state = payouts.text(3), id = payouts.text(5)
            if state == "confirmed" { add(&paidOut, token, payouts.text(1), "payout \(id)") }
            if state == "prepared" || state == "submitted" {
                let key = payouts.text(4) + " " + token
                add(&lockedByPayouts, key, payouts.text(1), "payout \(id)")
                add(&lockedByPayouts, key, payouts.text(2), "payout \(id) fee")
            }
            let charged = payouts.optionalText(6)
            switch state {
            case "confirmed" where charged != payouts.text(2):
                violations.append("payout \(id) is confirmed but charged \(charged ?? "nothing") instead of its fee \(payouts.text(2))")
            case "failed" where charged == nil:
                violations.append("payout \(id) is failed but records no charged failure fee")
            case "prepared", "submitted":
                if charged != nil { violations.append("payout \(id) is open but already charged") }
            default: break
            }
        }
        payouts.reset()
        for token in Set(credited.keys).union(held.keys).union(paidOut.keys).sorted() {
            let inflow = credited[token, default: .zero]
            let outflow = paidOut[token, default: .zero]
            let holdings = held[token, default: .zero]
            guard let remaining = inflow.subtracting(outflow) else {
                violations.append("token \(token): confirmed payouts \(outflow) exceed credited deposits \(inflow)")
                continue
            }
            if remaining != holdings {
                violations.append("token \(token): balances, locks and fees hold \(holdings) but deposits \(inflow) minus payouts \(outflow) is \(remaining)")
            }
        }

        // No stranded lock: every locked amount belongs to an open payout, exactly.
        var lockedInBalances: [String: UInt256] = [:]
        let locks = try database.statement("SELECT account, token, locked FROM balances WHERE locked <> '0'")
        while try locks.step() { add(&lockedInBalances, locks.text(0) + " " + locks.text(1), locks.text(2), "locked balance") }
        locks.reset()
        for key in Set(lockedInBalances.keys).union(lockedByPayouts.keys).sorted() {
            let inBalances = lockedInBalances[key, default: .zero], byPayouts = lockedByPayouts[key, default: .zero]
            if inBalances != byPayouts {
                violations.append("\(key): \(inBalances) locked, but open payouts account for \(byPayouts)")
            }
        }

        // One transaction id, one use: never both a deposit and a payout; one live payout per nonce.
        let reused = try database.scalarInt("SELECT count(*) FROM payouts p JOIN deposits d ON d.chain = p.dest_chain AND d.tx = p.tx") ?? 0
        if reused > 0 { violations.append("\(reused) transaction id(s) recorded both as a deposit and as a payout") }
        let sharedNonces = try database.scalarInt("""
            SELECT count(*) FROM (SELECT dest_chain, sender, nonce FROM payouts
                                  WHERE nonce IS NOT NULL AND state <> 'failed'
                                  GROUP BY dest_chain, sender, nonce HAVING count(*) > 1)
            """) ?? 0
        if sharedNonces > 0 { violations.append("\(sharedNonces) nonce(s) held by more than one live payout") }
        let freedButUsed = try database.scalarInt("""
            SELECT count(*) FROM free_nonces f JOIN payouts p
              ON p.dest_chain = f.chain AND p.sender = f.sender AND p.nonce = f.nonce AND p.state <> 'failed'
            """) ?? 0
        if freedButUsed > 0 { violations.append("\(freedButUsed) released nonce(s) still held by a live payout") }

        // Coins (UTXO chains): a reserved coin or pending change belongs to an open
        // payout, a spent coin to a confirmed or failed one; change is the
        // payout's own output; no coin is also a live payout's change and input.
        let strayCoins = try database.scalarInt("""
            SELECT count(*) FROM utxos u LEFT JOIN payouts p ON p.request_id = (CASE WHEN u.state = 'pending' THEN u.request_id ELSE u.spent_by END)
            WHERE (u.state IN ('reserved', 'pending') AND (p.request_id IS NULL OR p.state NOT IN ('prepared', 'submitted')))
               OR (u.state = 'spent' AND u.spent_by IS NOT NULL AND (p.request_id IS NULL OR p.state NOT IN ('confirmed', 'failed')))
               OR (u.state = 'available' AND u.spent_by IS NOT NULL)
               OR (u.origin = 'change' AND (p.request_id IS NULL AND u.state = 'pending'))
            """) ?? 0
        if strayCoins > 0 { violations.append("\(strayCoins) coin(s) whose state does not match their payout's") }
        let badChange = try database.scalarInt("""
            SELECT count(*) FROM utxos u LEFT JOIN payouts p ON p.request_id = u.request_id
            WHERE u.origin = 'change' AND (p.request_id IS NULL OR p.tx <> u.tx OR p.change_vout IS NOT u.vout
                                           OR p.change_value IS NOT u.value OR p.state = 'failed')
            """) ?? 0
        if badChange > 0 { violations.append("\(badChange) change coin(s) that are not the output their payout recorded") }
        let confirmedWithoutInputs = try database.scalarInt("""
            SELECT count(*) FROM payouts p WHERE p.nonce IS NULL AND p.state <> 'failed'
              AND NOT EXISTS (SELECT 1 FROM utxos u WHERE u.spent_by = p.request_id)
            """) ?? 0
        if confirmedWithoutInputs > 0 { violations.append("\(confirmedWithoutInputs) live UTXO payout(s) holding no coins") }

        // 2. Every credited deposit is registered as a request, and vice versa.
        let orphans = try database.scalarInt("""
            SELECT count(*) FROM deposits d LEFT JOIN requests r ON r.request_id = d.request_id
            WHERE r.request_id IS NULL OR r.op NOT IN ('deposit', 'transfer')
               OR (r.op = 'deposit' AND (r.chain <> d.chain OR r.tx <> d.tx))
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
