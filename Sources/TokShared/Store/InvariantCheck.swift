/// `tok-apply check`: re-derives what must hold in any state the engine can
/// reach, from the tables themselves. Any violation means a bug or a hand edit.
/// One function per family of invariants, each returning what it found.
extension Ledger {
    public func checkInvariants() throws(StoreError) -> [String] {
        var violations: [String] = []
        violations += try conservationViolations()
        violations += try uniquenessViolations()
        violations += try coinViolations()
        violations += try requestViolations()
        violations += try auditViolations()
        violations += try chainViolations()
        violations += try tokenViolations()
        return violations
    }

    /// A sum of stored amounts, wider than one: each amount fits 256 bits, but
    /// the balances of many accounts together need not, and a ledger tok-apply
    /// wrote itself must never read as overflowing. Carries past 2^256 are
    /// counted (2^64 of them would take more rows than any database holds).
    struct WideSum: Equatable, Comparable, CustomStringConvertible {
        var carries: UInt64 = 0
        var low: UInt256 = .zero

        mutating func add(_ amount: UInt256) {
            if let sum = low.adding(amount) {
                low = sum
            } else {
                // low + amount - 2^256, computed without leaving 256 bits.
                low = amount.subtracting(UInt256.max.subtracting(low)!)!.subtracting(UInt256(1))!
                carries += 1
            }
        }

        static func + (left: WideSum, right: WideSum) -> WideSum {
            var sum = left
            sum.add(right.low)
            sum.carries += right.carries
            return sum
        }

        static func < (left: WideSum, right: WideSum) -> Bool {
            left.carries != right.carries ? left.carries < right.carries : left.low < right.low
        }

        var description: String { carries == 0 ? low.description : "\(carries)×2^256+\(low)" }
    }

    /// Sums of stored amounts per key, recording what cannot be read.
    private struct Totals {
        var amounts: [String: WideSum] = [:]

        mutating func add(_ key: String, _ text: String, _ what: String, into violations: inout [String]) {
            guard let amount = try? Ledger.storedAmount(text) else {
                violations.append("\(what): stored amount \"\(text)\" is not canonical")
                return
            }
            amounts[key, default: WideSum()].add(amount)
        }

        subscript(key: String) -> WideSum { amounts[key, default: WideSum()] }
        var keys: Set<String> { Set(amounts.keys) }
    }

    /// Conservation per token (what users and the operator hold equals what
    /// came in less what was paid out), no stranded lock, and every payout
    /// charged what its state says.
    func conservationViolations() throws(StoreError) -> [String] {
        var violations: [String] = []
        var credited = Totals(), held = Totals(), paidOut = Totals(), lockedByPayouts = Totals(), lockedInBalances = Totals()
        let deposits = try database.statement("SELECT token, credited, chain, tx, asset FROM deposits")
        while try deposits.step() {
            credited.add(deposits.text("token"), deposits.text("credited"),
                         "deposit \(deposits.text("chain")) \(deposits.text("tx")) \(deposits.text("asset"))", into: &violations)
        }
        deposits.reset()
        let balances = try database.statement("SELECT token, available, locked, account FROM balances")
        while try balances.step() {
            let token = balances.text("token"), account = balances.text("account")
            held.add(token, balances.text("available"), "balance of \(account)", into: &violations)
            held.add(token, balances.text("locked"), "locked balance of \(account)", into: &violations)
            if balances.text("locked") != "0" {
                lockedInBalances.add(account + " " + token, balances.text("locked"), "locked balance", into: &violations)
            }
        }
        balances.reset()
        let fees = try database.statement("SELECT token, amount FROM fee_balances")
        while try fees.step() { held.add(fees.text("token"), fees.text("amount"), "fee balance", into: &violations) }
        fees.reset()
        let payouts = try database.statement("""
            SELECT token, quantity, fee, state, account, request_id, charged_fee FROM payouts
            """)
        while try payouts.step() {
            let token = payouts.text("token"), state = payouts.text("state"), id = payouts.text("request_id")
            // Confirmed payouts left the system; their fees stayed (in fee_balances).
            if state == PayoutState.confirmed.rawValue {
                paidOut.add(token, payouts.text("quantity"), "payout \(id)", into: &violations)
            }
            if state == PayoutState.prepared.rawValue || state == PayoutState.submitted.rawValue {
                let key = payouts.text("account") + " " + token
                lockedByPayouts.add(key, payouts.text("quantity"), "payout \(id)", into: &violations)
                lockedByPayouts.add(key, payouts.text("fee"), "payout \(id) fee", into: &violations)
            }
            if let problem = chargeViolation(id: id, state: state, fee: payouts.text("fee"),
                                             charged: payouts.optionalText("charged_fee")) {
                violations.append(problem)
            }
        }
        payouts.reset()
        for token in credited.keys.union(held.keys).union(paidOut.keys).sorted() {
            let inflow = credited[token], outflow = paidOut[token], holdings = held[token]
            guard outflow <= inflow else {
                violations.append("token \(token): confirmed payouts \(outflow) exceed credited deposits \(inflow)")
                continue
            }
            if outflow + holdings != inflow {
                violations.append("token \(token): balances, locks and fees hold \(holdings) but deposits \(inflow) minus payouts \(outflow) do not")
            }
        }
        // No stranded lock: every locked amount belongs to an open payout, exactly.
        for key in lockedInBalances.keys.union(lockedByPayouts.keys).sorted()
        where lockedInBalances[key] != lockedByPayouts[key] {
            violations.append("\(key): \(lockedInBalances[key]) locked, but open payouts account for \(lockedByPayouts[key])")
        }
        return violations
    }

    /// A confirmed payout was charged its fee, a failed one a failure fee, an open one nothing yet.
    private func chargeViolation(id: String, state: String, fee: String, charged: String?) -> String? {
        switch PayoutState(rawValue: state) {
        case .confirmed? where charged != fee:
            return "payout \(id) is confirmed but charged \(charged ?? "nothing") instead of its fee \(fee)"
        case .failed? where charged == nil:
            return "payout \(id) is failed but records no charged failure fee"
        case .prepared?, .submitted?:
            return charged != nil ? "payout \(id) is open but already charged" : nil
        case .confirmed?, .failed?:
            return nil
        case nil:
            return "payout \(id) has state \"\(state)\", which tok never writes"
        }
    }

    /// One transaction id, one use: never both a deposit and a payout; one live payout per nonce.
    func uniquenessViolations() throws(StoreError) -> [String] {
        var violations: [String] = []
        let reused = try database.scalarInt("""
            SELECT count(*) FROM payouts p JOIN deposits d ON d.chain = p.dest_chain AND d.tx = p.tx
            """) ?? 0
        if reused > 0 { violations.append("\(reused) transaction id(s) recorded both as a deposit and as a payout") }
        let sharedNonces = try database.scalarInt("""
            SELECT count(*) FROM (SELECT dest_chain, sender, nonce FROM payouts
                                  WHERE nonce IS NOT NULL AND state <> 'failed'
                                  GROUP BY dest_chain, sender, nonce HAVING count(*) > 1) shared
            """) ?? 0
        if sharedNonces > 0 { violations.append("\(sharedNonces) nonce(s) held by more than one live payout") }
        let freedButUsed = try database.scalarInt("""
            SELECT count(*) FROM free_nonces f JOIN payouts p
              ON p.dest_chain = f.chain AND p.sender = f.sender AND p.nonce = f.nonce AND p.state <> 'failed'
            """) ?? 0
        if freedButUsed > 0 { violations.append("\(freedButUsed) released nonce(s) still held by a live payout") }
        return violations
    }

    /// Coins (UTXO chains): a reserved coin or pending change belongs to an open
    /// payout, a spent coin to a confirmed or failed one; change is the
    /// payout's own output; every live UTXO payout holds coins.
    func coinViolations() throws(StoreError) -> [String] {
        var violations: [String] = []
        let strayCoins = try database.scalarInt("""
            SELECT count(*) FROM utxos u
              LEFT JOIN payouts p ON p.request_id = (CASE WHEN u.state = 'pending' THEN u.request_id ELSE u.spent_by END)
            WHERE (u.state IN ('reserved', 'pending') AND (p.request_id IS NULL OR p.state NOT IN ('prepared', 'submitted')))
               OR (u.state = 'spent' AND u.spent_by IS NOT NULL AND (p.request_id IS NULL OR p.state NOT IN ('confirmed', 'failed')))
               OR (u.state = 'available' AND u.spent_by IS NOT NULL)
               OR (u.origin = 'change' AND (p.request_id IS NULL AND u.state = 'pending'))
            """) ?? 0
        if strayCoins > 0 { violations.append("\(strayCoins) coin(s) whose state does not match their payout's") }
        let badChange = try database.scalarInt("""
            SELECT count(*) FROM utxos u LEFT JOIN payouts p ON p.request_id = u.request_id
            WHERE u.origin = 'change' AND (p.request_id IS NULL OR p.tx <> u.tx OR p.change_vout IS DISTINCT FROM u.vout
                                           OR p.change_value IS DISTINCT FROM u.value OR p.state = 'failed')
            """) ?? 0
        if badChange > 0 { violations.append("\(badChange) change coin(s) that are not the output their payout recorded") }
        let withoutInputs = try database.scalarInt("""
            SELECT count(*) FROM payouts p WHERE p.nonce IS NULL AND p.state <> 'failed'
              AND NOT EXISTS (SELECT 1 FROM utxos u WHERE u.spent_by = p.request_id)
            """) ?? 0
        if withoutInputs > 0 { violations.append("\(withoutInputs) live UTXO payout(s) holding no coins") }
        return violations
    }

    /// Every credited deposit is registered as a request of its own, and vice
    /// versa (a transaction may hold several deposits, one per asset, each
    /// under its own request).
    func requestViolations() throws(StoreError) -> [String] {
        var violations: [String] = []
        let orphans = try database.scalarInt("""
            SELECT count(*) FROM deposits d LEFT JOIN requests r ON r.request_id = d.request_id
            WHERE r.request_id IS NULL OR r.op NOT IN ('deposit', 'transfer')
               OR (r.op = 'deposit' AND (r.chain <> d.chain OR r.tx <> d.tx))
            """) ?? 0
        if orphans > 0 { violations.append("\(orphans) deposit(s) without a matching request row") }
        let shared = try database.scalarInt("""
            SELECT count(*) FROM (SELECT request_id FROM deposits GROUP BY request_id HAVING count(*) > 1) shared
            """) ?? 0
        if shared > 0 { violations.append("\(shared) request(s) that credited more than one deposit") }
        let missing = try database.scalarInt("""
            SELECT count(*) FROM requests r
              LEFT JOIN deposits d ON d.chain = r.chain AND d.tx = r.tx AND d.request_id = r.request_id
            WHERE r.op = 'deposit' AND d.tx IS NULL
            """) ?? 0
        if missing > 0 { violations.append("\(missing) deposit request(s) without a credited deposit") }
        return violations
    }

    /// The audit trail's hash chain is unbroken.
    func auditViolations() throws(StoreError) -> [String] {
        var violations: [String] = []
        var previous = Ledger.auditGenesis
        let audit = try database.statement("SELECT seq, prev_hash, hash, body FROM audit ORDER BY seq")
        while try audit.step() {
            let seq = audit.int64("seq"), recordedPrevious = audit.text("prev_hash"), hash = audit.text("hash")
            if recordedPrevious != previous {
                violations.append("audit entry \(seq): prev_hash does not match the entry before it")
            }
            if hash != Ledger.auditHash(previous: recordedPrevious, body: audit.text("body")) {
                violations.append("audit entry \(seq): hash does not match its content")
            }
            previous = hash
        }
        audit.reset()
        return violations
    }

    /// The chains: each block links to the one below it and its state hash is
    /// the hash of its facts chained to the previous one; and every open
    /// shortfall is reported (the books credit a payment the chain dropped).
    func chainViolations() throws(StoreError) -> [String] {
        var violations: [String] = []
        let blocks = try database.statement("""
            SELECT chain, height, hash, previous_hash, facts, state_hash FROM chain_blocks ORDER BY chain, height
            """)
        var previous: (chain: String, height: Int64, hash: String, stateHash: String)?
        while try blocks.step() {
            let chain = blocks.text("chain"), height = blocks.int64("height")
            let continues = previous?.chain == chain
            if continues, let previous, previous.height + 1 != height || previous.hash != blocks.text("previous_hash") {
                violations.append("chain \(chain): block \(height) does not link to block \(previous.height)")
            }
            let expected = Ledger.auditHash(previous: continues ? previous!.stateHash : Ledger.chainGenesis, body: blocks.text("facts"))
            if expected != blocks.text("state_hash") {
                violations.append("chain \(chain): block \(height)'s state hash does not match its facts")
            }
            previous = (chain, height, blocks.text("hash"), blocks.text("state_hash"))
        }
        blocks.reset()
        let shortfalls = try database.statement("""
            SELECT id, chain, tx, account, token, amount, block_hash FROM shortfalls WHERE state = 'open' ORDER BY id
            """)
        while try shortfalls.step() {
            violations.append("shortfall \(shortfalls.int64("id")): \(shortfalls.text("account")) holds \(shortfalls.text("amount")) \(shortfalls.text("token")) credited for \(shortfalls.text("tx")), which left the chain with block \(shortfalls.text("block_hash")); its payouts wait (tok-apply resolve-shortfall)")
        }
        shortfalls.reset()
        // Connecting the payment again finds its shortfall by the deposit's key.
        let unmatched = try database.scalarInt("""
            SELECT count(*) FROM shortfalls s LEFT JOIN deposits d ON d.chain = s.chain AND d.tx = s.tx AND d.asset = s.asset
            WHERE d.tx IS NULL
            """) ?? 0
        if unmatched > 0 { violations.append("\(unmatched) shortfall(s) that name no credited deposit") }
        return violations
    }

    /// Tokens: every token's balances add up to its supply (tokens are never
    /// created or lost after the mint), and what a seller holds reserved is
    /// exactly what its open and paid invoices hold.
    func tokenViolations() throws(StoreError) -> [String] {
        var violations: [String] = []
        let supply = try database.statement("""
            SELECT t.chain AS chain, t.token AS token, t.supply AS supply,
                   (SELECT coalesce(sum(b.available + b.reserved), 0) FROM token_balances b
                    WHERE b.chain = t.chain AND b.token = t.token) AS held
            FROM tokens t ORDER BY t.chain, t.token
            """)
        while try supply.step() {
            guard supply.int64("supply") != supply.int64("held") else { continue }
            violations.append("token \(supply.text("token")) on \(supply.text("chain")): balances hold \(supply.int64("held")), the supply is \(supply.int64("supply"))")
        }
        supply.reset()
        let reserved = try database.statement("""
            SELECT b.chain AS chain, b.token AS token, b.address AS address, b.reserved AS reserved,
                   (SELECT coalesce(sum(i.quantity), 0) FROM invoices i WHERE i.chain = b.chain AND i.token = b.token
                      AND i.seller = b.address AND i.state IN ('open', 'paid'))
                 + (SELECT coalesce(sum(o.remaining), 0) FROM offers o WHERE o.chain = b.chain AND o.token = b.token
                      AND o.author = b.address AND o.side = 'sell' AND o.state = 'open')
                 + (SELECT coalesce(sum(m.quantity), 0) FROM matches m WHERE m.chain = b.chain AND m.token = b.token
                      AND m.seller = b.address AND m.state IN ('reserved', 'paid')) AS held
            FROM token_balances b ORDER BY b.chain, b.token, b.address
            """)
        while try reserved.step() {
            guard reserved.int64("reserved") != reserved.int64("held") else { continue }
            violations.append("token \(reserved.text("token")): \(reserved.text("address")) has \(reserved.int64("reserved")) reserved, its open invoices, sell offers and matches hold \(reserved.int64("held"))")
        }
        reserved.reset()
        return violations
    }
}
