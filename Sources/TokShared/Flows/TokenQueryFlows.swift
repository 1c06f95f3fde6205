/// Queries of token state, answered by tok-apply from the ledger:
///   {"op":"token","id":…,"network":"doge","token":"812:3"}
///     → "token":{token, owner, supply, managers, min_approvals, record_hash, record?}
///   {"op":"token_balance","id":…,"network":"doge","token":"812:3","address":"D…"}
///     → "token_balance":{token, address, available, reserved}
///   {"op":"invoice","id":…,"network":"doge","invoice":"815:1"}
///     → "invoice":{invoice, token, seller, buyer, quantity, unit_price_koinu, owed_koinu, expiry_height, state, …}
/// `record` is the off-chain record bound by the anchor's hash, once it has
/// arrived and only if it agrees with the anchor (tok-protocol(7), "Attaching
/// a record"): a copied mint shows no record.
struct TokenQuery {
    let network: NetworkConfig
    let chain: UTXOChainParameters

    static func resolve(_ record: JSON, context: ApplyContext) throws(TokError) -> TokenQuery {
        _ = try RequestResolver.checkRequestId(record)
        let name = try FieldReader(record, path: "").string("network")
        guard let network = context.config.network(named: name) else {
            throw TokError(.unknownNetwork, "network \(name) is not configured")
        }
        guard let chain = UTXOChains.parameters(for: network.chain) else {
            throw TokError(.unsupportedChainFamily, "tokens live on Bitcoin-family chains, not on \(network.alias)")
        }
        return TokenQuery(network: network, chain: chain)
    }

    static func position(_ record: JSON, _ key: String) throws(TokError) -> String {
        let text = try FieldReader(record, path: "").string(key)
        guard let position = ChainPosition(parsing: text) else {
            throw TokError(.badFieldType, "\(key) must be HEIGHT:INDEX")
        }
        return position.description
    }
}

private func queryStages(_ status: RecordStatus?) -> FlowStages {
    switch status {
    case nil, .validated?: return .apply
    case .pending?, .verified?, .credited?, .duplicate?, .answered?, .rejected?, .signed?, .prepared?, .submitted?,
        .confirmed?, .failed?, .inFlight?, .paid?, .rolledBack?, .observed?, .disconnected?, .connected?, .undone?:
        return .none
    }
}

/// An answer written as one member of the record.
struct QueryAnswer: AppliedOutcome {
    let key: String
    let value: JSON

    func annotate(_ record: JSON, context: RecordContext) {
        record.set(key, value)
        record.set(Field.status, string: RecordStatus.answered.rawValue)
    }
}

public struct TokenInfoQueryFlow: Flow {
    public init() {}
    public var op: Op { .token }
    public func stages(at status: RecordStatus?) -> FlowStages { queryStages(status) }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let token = try TokenQuery.position(record, "token")
        let answer = try context.ledger.tokenInfo(chain: query.chain, network: query.network, token: token)
        return QueryAnswer(
            key: "token",
            value: answer
                ?? {
                    let none = JSON.object(); none.set("token", string: token); none.set("state", string: "unknown");
                    return none
                }())
    }
}

public struct TokenBalanceQueryFlow: Flow {
    public init() {}
    public var op: Op { .tokenBalance }
    public func stages(at status: RecordStatus?) -> FlowStages { queryStages(status) }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let token = try TokenQuery.position(record, "token")
        let address = try query.network.family.canonicalAddress(
            try FieldReader(record, path: "").string("address"),
            chain: query.network.chain)
        let balance = try context.ledger.tokenBalance(chain: query.network.chainText, token: token, address: address)
        let answer = JSON.object()
        answer.set("token", string: token)
        answer.set("address", string: address)
        answer.set("available", string: String(balance.available))
        answer.set("reserved", string: String(balance.reserved))
        return QueryAnswer(key: "token_balance", value: answer)
    }
}

public struct InvoiceQueryFlow: Flow {
    public init() {}
    public var op: Op { .invoice }
    public func stages(at status: RecordStatus?) -> FlowStages { queryStages(status) }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let invoice = try TokenQuery.position(record, "invoice")
        let row = try context.ledger.guarded {
            try context.ledger.journalRow(
                .invoices, key: ["chain": .text(query.network.chainText), "invoice": .text(invoice)])
        }
        let answer = JSON.object()
        answer.set("invoice", string: invoice)
        guard let row else {
            answer.set("state", string: "unknown")
            return QueryAnswer(key: "invoice", value: answer)
        }
        for (member, column) in [
            ("token", "token"), ("seller", "seller"), ("buyer", "buyer"), ("state", "state"),
            ("payee_script", "payee_script"), ("tx", "tx"), ("payment_tx", "payment_tx"),
            ("record_hash", "record_hash"),
        ] {
            if let text = row[column]?.text { answer.set(member, string: text) }
        }
        for (member, column) in [
            ("quantity", "quantity"), ("unit_price_koinu", "unit_price"), ("owed_koinu", "owed"),
            ("paid_koinu", "paid"),
        ] {
            if let value = row[column]?.integer { answer.set(member, string: String(value)) }
        }
        for (member, column) in [
            ("height", "height"), ("expiry_height", "expiry_height"), ("payment_height", "payment_height"),
            ("settled_height", "settled_height"),
        ] {
            if let value = row[column]?.integer { answer.set(member, integer: value) }
        }
        if let payee = row["payee_script"]?.text.flatMap(Hex.decode),
            let address = UTXOScript.address(of: payee, chain: query.chain)
        {
            answer.set("payee", string: address)
        }
        return QueryAnswer(key: "invoice", value: answer)
    }
}

extension Ledger {
    public func tokenBalance(
        chain: String, token: String, address: String
    ) throws(TokError) -> (available: Int64, reserved: Int64) {
        try guarded {
            let row = try journalRow(
                .tokenBalances, key: ["chain": .text(chain), "token": .text(token), "address": .text(address)])
            return (row?["available"]?.integer ?? 0, row?["reserved"]?.integer ?? 0)
        }
    }

    /// A token as the chain made it, with its record if one has arrived that agrees with the anchor.
    func tokenInfo(chain: UTXOChainParameters, network: NetworkConfig, token: String) throws(TokError) -> JSON? {
        try guarded {
            guard let row = try journalRow(.tokens, key: ["chain": .text(network.chainText), "token": .text(token)]),
                let owner = row["owner"]?.text, let supply = row["supply"]?.integer,
                let hash = row["record_hash"]?.text,
                let managersText = row["managers"]?.text, case .success(let managers) = JSON.parse(managersText)
            else { return nil }
            let answer = JSON.object()
            answer.set("token", string: token)
            answer.set("owner", string: owner)
            answer.set("supply", string: String(supply))
            answer.set("managers", managers)
            answer.set("min_approvals", integer: row["min_approvals"]?.integer ?? 0)
            answer.set("record_hash", string: hash)
            answer.set("tx", string: row["tx"]?.text ?? "")
            if let (stored, _) = try record(hash: hash), let attached = attachedMint(stored, row: row, chain: chain) {
                answer.set("record", attached)
            }
            return answer
        }
    }

    /// The mint record's JSON when it attaches to the token's anchor (same author, in time, same terms).
    private func attachedMint(_ record: TokenRecord, row: JournalRow, chain: UTXOChainParameters) -> JSON? {
        guard let owner = row["owner"]?.text.flatMap({ try? UTXOAddress.parse($0, chain: chain) }),
            let supply = row["supply"]?.integer, let height = row["height"]?.integer,
            let hash = row["record_hash"]?.text.flatMap(Hex.decode).flatMap(RecordHash.init(bytes:)),
            let managersText = row["managers"]?.text, case .success(let list) = JSON.parse(managersText)
        else { return nil }
        let managers = list.arrayElements.compactMap {
            $0.stringValue.flatMap { try? UTXOAddress.parse($0, chain: chain) }
        }
        let mint = TokenMint(
            recordHash: hash, supply: UInt64(supply), managerCount: UInt8(managers.count),
            minApprovals: UInt8(row["min_approvals"]?.integer ?? 0))
        let parties = managers.enumerated().map { (role: NamedOutputRole.manager($0.offset), address: $0.element) }
        guard
            record.contradiction(
                with: .mint(mint), anchorAuthor: owner, parties: parties,
                anchorHeight: UInt32(clamping: height)) == nil,
            case .success(let json) = JSON.parse(String(decoding: record.canonicalJSON, as: UTF8.self))
        else { return nil }
        return json
    }
}

/// `{"op":"order_book","id":…,"network":"doge","token":"812:3"}` →
/// `"order_book":{token, sells:[…], buys:[…], announced:[…]}`: the binding
/// offers resting in the book, each side in its priority order (best price,
/// then earliest position), and the offer records stored here whose anchor
/// has not been seen (announced, not binding).
public struct OrderBookQueryFlow: Flow {
    public init() {}
    public var op: Op { .orderBook }
    public func stages(at status: RecordStatus?) -> FlowStages { queryStages(status) }
    static let limit = 1_000

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let token = try TokenQuery.position(record, "token")
        let chain = query.network.chainText
        let ledger = context.ledger
        let answer = JSON.object()
        answer.set("token", string: token)
        try ledger.guarded {
            for (side, order) in [
                ("sell", "unit_price, height, position"), ("buy", "unit_price DESC, height, position"),
            ] {
                let rows = try ledger.database.statement(
                    """
                    SELECT offer, author, remaining, unit_price, expiry_height FROM offers
                    WHERE chain = :chain AND token = :token AND side = '\(side)' AND state = 'open' ORDER BY \(order) LIMIT :limit
                    """)
                try rows.bind("chain", chain).bind("token", token).bind("limit", Int64(OrderBookQueryFlow.limit))
                var list: [JSON] = []
                while try rows.step() {
                    let item = JSON.object()
                    item.set("offer", string: rows.text("offer"))
                    item.set("author", string: rows.text("author"))
                    item.set("remaining", string: String(rows.int64("remaining")))
                    item.set(
                        side == "sell" ? "unit_price_koinu" : "max_unit_price_koinu",
                        string: String(rows.int64("unit_price")))
                    item.set("expiry_height", integer: rows.int64("expiry_height"))
                    list.append(item)
                }
                rows.reset()
                answer.set(side == "sell" ? "sells" : "buys", JSON.array(list))
            }
            let announced = try ledger.database.statement(
                """
                SELECT hash, kind, author, expiry_height, canonical FROM token_records r
                WHERE r.chain = :chain AND r.kind IN ('sell_offer', 'buy_offer')
                  AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.chain = r.chain AND o.record_hash = r.hash)
                ORDER BY r.hash LIMIT :limit
                """)
            try announced.bind("chain", chain).bind("limit", Int64(OrderBookQueryFlow.limit))
            var list: [JSON] = []
            while try announced.step() {
                guard case .success(let body) = JSON.parse(announced.text("canonical")),
                    body.string(at: "token") == token
                else { continue }
                let item = JSON.object()
                item.set("hash", string: announced.text("hash"))
                item.set("record", body)
                list.append(item)
            }
            announced.reset()
            answer.set("announced", JSON.array(list))
        }
        return QueryAnswer(key: "order_book", value: answer)
    }
}

/// `{"op":"offer","id":…,"network":"doge","offer":"815:2"}` → the offer and its fills (its matches).
public struct OfferQueryFlow: Flow {
    public init() {}
    public var op: Op { .offer }
    public func stages(at status: RecordStatus?) -> FlowStages { queryStages(status) }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let offer = try TokenQuery.position(record, "offer")
        let chain = query.network.chainText
        let ledger = context.ledger
        let answer = JSON.object()
        answer.set("offer", string: offer)
        try ledger.guarded {
            guard let row = try ledger.journalRow(.offers, key: ["chain": .text(chain), "offer": .text(offer)]) else {
                answer.set("state", string: "unknown")
                return
            }
            for column in ["side", "token", "author", "state", "tx", "record_hash"] {
                if let text = row[column]?.text { answer.set(column, string: text) }
            }
            for column in ["quantity", "remaining", "unit_price"] {
                if let value = row[column]?.integer {
                    answer.set(column == "unit_price" ? "unit_price_koinu" : column, string: String(value))
                }
            }
            answer.set("expiry_height", integer: row["expiry_height"]?.integer ?? 0)
            let fills = try ledger.database.statement(
                """
                SELECT sell_offer, buy_offer FROM matches WHERE chain = :chain AND (sell_offer = :offer OR buy_offer = :offer)
                ORDER BY height, sell_offer, buy_offer
                """)
            try fills.bind("chain", chain).bind("offer", offer)
            var keys: [(String, String)] = []
            while try fills.step() { keys.append((fills.text("sell_offer"), fills.text("buy_offer"))) }
            fills.reset()
            answer.set(
                "fills",
                JSON.array(
                    try keys.compactMap { (sell, buy) throws(StoreError) in
                        try matchObject(ledger, chain: chain, sell: sell, buy: buy)
                    }))
        }
        return QueryAnswer(key: "offer", value: answer)
    }
}

/// `{"op":"match","id":…,"network":"doge","sell_offer":"815:2","buy_offer":"816:1"}` → the match's state.
public struct MatchQueryFlow: Flow {
    public init() {}
    public var op: Op { .match }
    public func stages(at status: RecordStatus?) -> FlowStages { queryStages(status) }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let sell = try TokenQuery.position(record, "sell_offer"), buy = try TokenQuery.position(record, "buy_offer")
        let found = try context.ledger.guarded {
            try matchObject(context.ledger, chain: query.network.chainText, sell: sell, buy: buy)
        }
        if let found, let script = found.string(at: "payee_script").flatMap(Hex.decode),
            let payee = UTXOScript.address(of: script, chain: query.chain)
        {
            found.set("payee", string: payee)
        }
        return QueryAnswer(
            key: "match",
            value: found
                ?? {
                    let none = JSON.object()
                    none.set("sell_offer", string: sell)
                    none.set("buy_offer", string: buy)
                    none.set("state", string: "unknown")
                    return none
                }())
    }
}

func matchObject(_ ledger: Ledger, chain: String, sell: String, buy: String) throws(StoreError) -> JSON? {
    guard
        let row = try ledger.journalRow(
            .matches, key: ["chain": .text(chain), "sell_offer": .text(sell), "buy_offer": .text(buy)])
    else {
        return nil
    }
    let object = JSON.object()
    for column in ["sell_offer", "buy_offer", "token", "seller", "buyer", "state", "payee_script", "payment_tx"] {
        if let text = row[column]?.text { object.set(column, string: text) }
    }
    for (member, column) in [
        ("quantity", "quantity"), ("unit_price_koinu", "unit_price"), ("owed_koinu", "owed"), ("paid_koinu", "paid"),
    ] {
        if let value = row[column]?.integer { object.set(member, string: String(value)) }
    }
    for column in ["height", "window_end", "payment_height", "settled_height"] {
        if let value = row[column]?.integer { object.set(column, integer: value) }
    }
    return object
}
