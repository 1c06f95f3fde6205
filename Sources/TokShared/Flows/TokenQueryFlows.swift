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
        guard let network = context.config.network(named: name) else { throw TokError(.unknownNetwork, "network \(name) is not configured") }
        guard let chain = UTXOChains.parameters(for: network.chain) else {
            throw TokError(.unsupportedChainFamily, "tokens live on Bitcoin-family chains, not on \(network.alias)")
        }
        return TokenQuery(network: network, chain: chain)
    }

    static func position(_ record: JSON, _ key: String) throws(TokError) -> String {
        let text = try FieldReader(record, path: "").string(key)
        guard let position = ChainPosition(parsing: text) else { throw TokError(.badFieldType, "\(key) must be HEIGHT:INDEX") }
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

    func annotate(_ record: JSON, context: ApplyContext) {
        record.set(key, value)
        record.set(Field.status, string: RecordStatus.answered.rawValue)
    }
}

public struct TokenInfoQueryFlow: Flow {
    public init() {}
    public var op: Op { .token }
    public func stages(at status: RecordStatus?) -> FlowStages { queryStages(status) }

    public func apply(_ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let token = try TokenQuery.position(record, "token")
        let answer = try context.ledger.tokenInfo(chain: query.chain, network: query.network, token: token)
        return QueryAnswer(key: "token", value: answer ?? { let none = JSON.object(); none.set("token", string: token); none.set("state", string: "unknown"); return none }())
    }
}

public struct TokenBalanceQueryFlow: Flow {
    public init() {}
    public var op: Op { .tokenBalance }
    public func stages(at status: RecordStatus?) -> FlowStages { queryStages(status) }

    public func apply(_ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let token = try TokenQuery.position(record, "token")
        let address = try query.network.family.canonicalAddress(try FieldReader(record, path: "").string("address"),
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

    public func apply(_ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext) throws(TokError) -> any AppliedOutcome {
        let query = try TokenQuery.resolve(record, context: context)
        let invoice = try TokenQuery.position(record, "invoice")
        let row = try context.ledger.guarded {
            try context.ledger.journalRow(.invoices, key: ["chain": .text(query.network.chainText), "invoice": .text(invoice)])
        }
        let answer = JSON.object()
        answer.set("invoice", string: invoice)
        guard let row else {
            answer.set("state", string: "unknown")
            return QueryAnswer(key: "invoice", value: answer)
        }
        for (member, column) in [("token", "token"), ("seller", "seller"), ("buyer", "buyer"), ("state", "state"),
                                 ("payee_script", "payee_script"), ("tx", "tx"), ("payment_tx", "payment_tx"),
                                 ("record_hash", "record_hash")] {
            if let text = row[column]?.text { answer.set(member, string: text) }
        }
        for (member, column) in [("quantity", "quantity"), ("unit_price_koinu", "unit_price"), ("owed_koinu", "owed"),
                                 ("paid_koinu", "paid")] {
            if let value = row[column]?.integer { answer.set(member, string: String(value)) }
        }
        for (member, column) in [("height", "height"), ("expiry_height", "expiry_height"), ("payment_height", "payment_height"),
                                 ("settled_height", "settled_height")] {
            if let value = row[column]?.integer { answer.set(member, integer: value) }
        }
        if let payee = row["payee_script"]?.text.flatMap(Hex.decode), let address = UTXOScript.address(of: payee, chain: query.chain) {
            answer.set("payee", string: address)
        }
        return QueryAnswer(key: "invoice", value: answer)
    }
}

extension Ledger {
    public func tokenBalance(chain: String, token: String, address: String) throws(TokError) -> (available: Int64, reserved: Int64) {
        try guarded {
            let row = try journalRow(.tokenBalances, key: ["chain": .text(chain), "token": .text(token), "address": .text(address)])
            return (row?["available"]?.integer ?? 0, row?["reserved"]?.integer ?? 0)
        }
    }

    /// A token as the chain made it, with its record if one has arrived that agrees with the anchor.
    func tokenInfo(chain: UTXOChainParameters, network: NetworkConfig, token: String) throws(TokError) -> JSON? {
        try guarded {
            guard let row = try journalRow(.tokens, key: ["chain": .text(network.chainText), "token": .text(token)]),
                  let owner = row["owner"]?.text, let supply = row["supply"]?.integer, let hash = row["record_hash"]?.text,
                  let managersText = row["managers"]?.text, case .success(let managers) = JSON.parse(managersText) else { return nil }
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
              let managersText = row["managers"]?.text, case .success(let list) = JSON.parse(managersText) else { return nil }
        let managers = list.arrayElements.compactMap { $0.stringValue.flatMap { try? UTXOAddress.parse($0, chain: chain) } }
        let mint = TokenMint(recordHash: hash, supply: UInt64(supply), managerCount: UInt8(managers.count),
                             minApprovals: UInt8(row["min_approvals"]?.integer ?? 0))
        let parties = managers.enumerated().map { (role: NamedOutputRole.manager($0.offset), address: $0.element) }
        guard record.contradiction(with: .mint(mint), anchorAuthor: owner, parties: parties,
                                   anchorHeight: UInt32(clamping: height)) == nil,
              case .success(let json) = JSON.parse(String(decoding: record.canonicalJSON, as: UTF8.self)) else { return nil }
        return json
    }
}
