/// Tokenisation in the ledger (tok-protocol(7) for the wire format): what an
/// anchored message does, decided by chain data alone, inside the block's
/// transaction, every write journaled so a reorganisation undoes it.
///
///   - mint (tok 0x74): the token is the anchor's position; its supply goes to
///     the actor (input 0), never to an output; managers are the named outputs.
///   - invoice: the seller (the actor) reserves quantity for one buyer (named
///     output 1) over [anchor height, expiry height); never beyond the
///     seller's available tokens.
///   - payment: the buyer (the actor) pays at least quantity × price koinu to
///     the payee's exact script in the same transaction, below the expiry
///     height; it settles (tokens move seller → buyer) at the confirmation level.
///   - an open invoice's reservation returns to the seller at the start of its
///     expiry block.
/// Anything else has no effect and gets an outcome with a reason, stored with
/// the anchor and printed by tok-apply. Fractal Engine's version 1 anchors
/// are read strictly and move nothing (version 1 does not carry the terms).
extension JournaledTable {
    static let tokens = JournaledTable(
        name: "tokens",
        columns: [
            ("chain", .text), ("token", .text), ("height", .integer), ("position", .integer), ("tx", .text),
            ("owner", .text),
            ("supply", .integer), ("record_hash", .text), ("managers", .text), ("min_approvals", .integer),
        ], key: ["chain", "token"])

    static let tokenBalances = JournaledTable(
        name: "token_balances",
        columns: [
            ("chain", .text), ("token", .text), ("address", .text), ("available", .integer), ("reserved", .integer),
        ], key: ["chain", "token", "address"])

    static let invoices = JournaledTable(
        name: "invoices",
        columns: [
            ("chain", .text), ("invoice", .text), ("token", .text), ("height", .integer), ("tx", .text),
            ("seller", .text),
            ("buyer", .text), ("payee_script", .text), ("quantity", .integer), ("unit_price", .integer),
            ("owed", .integer),
            ("expiry_height", .integer), ("record_hash", .text), ("state", .text), ("payment_tx", .text),
            ("payment_height", .integer), ("paid", .integer), ("settled_height", .integer),
        ], key: ["chain", "invoice"])
}

/// Why an anchored message has no effect: stable codes, in the ledger and in tok-apply's output.
enum TokenRefusal: String {
    case actorNotProven = "actor_not_proven"
    case inputNotSighashAll = "input_not_sighash_all"
    case fractalEngineV1 = "fractal_engine_v1_moves_nothing"
    case unknownToken = "unknown_token"
    case insufficientTokens = "insufficient_tokens"
    case expiredOnArrival = "expired_on_arrival"
    case unknownInvoice = "unknown_invoice"
    case invoiceNotOpen = "invoice_not_open"
    case latePayment = "late_payment"
    case wrongPayer = "wrong_payer"
    case shortPayment = "short_payment"
    case unknownMatch = "unknown_match"
    case unknownOffer = "unknown_offer"
    case notOfferAuthor = "not_offer_author"
    case offerNotOpen = "offer_not_open"
    case matchNotReserved = "match_not_reserved"
    case unknownReservation = "unknown_reservation"
    case notAManager = "not_a_manager"
    case approvalLate = "approval_late"
    case alreadyApproved = "already_approved"
}

extension BlockWriter {
    /// What an anchor came to.
    struct AnchorResult {
        var outcome: String
        var reason: String?
        static let applied = AnchorResult(outcome: "applied", reason: nil)
        static func invalid(_ reason: String) -> AnchorResult { AnchorResult(outcome: "invalid", reason: reason) }
        static func refused(_ refusal: TokenRefusal) -> AnchorResult { .invalid(refusal.rawValue) }
    }

    /// Decodes one anchor and applies its message.
    mutating func applyAnchor(_ anchor: AnchorEvent) throws -> AnchorResult {
        guard let found = TokenProtocol.findAnchor(outputScripts: anchor.outputs.map(\.script)) else {
            return .invalid("no_envelope")
        }
        switch found.outcome {
        case .notAnchor: return .invalid("no_envelope")
        case .invalid(let rejection): return .invalid(rejection.reason.rawValue)
        case .unsupported: return AnchorResult(outcome: "unsupported", reason: nil)
        case .message(let message):
            guard let chain = UTXOChains.parameters(for: network.chain), let actorText = anchor.actor,
                let actor = try? UTXOAddress.parse(actorText, chain: chain)
            else { return .refused(.actorNotProven) }
            // The actor commits to every output (the message, its named parties, its payment).
            guard anchor.sighashAll else { return .refused(.inputNotSighashAll) }
            let context = AnchorContext(
                anchor: anchor, outputIndex: found.outputIndex, actor: actor, chain: chain,
                position: ChainPosition(
                    height: UInt32(clamping: block.height), txIndex: UInt32(clamping: anchor.position)))
            do {
                return try apply(message, context)
            } catch let rejection as AnchorRejection {
                return .invalid(rejection.reason.rawValue)
            }
        }
    }

    struct AnchorContext {
        let anchor: AnchorEvent
        let outputIndex: Int
        let actor: UTXOAddress
        let chain: UTXOChainParameters
        let position: ChainPosition
        var actorText: String { actor.encode(chain: chain) }
        var scripts: [[UInt8]] { anchor.outputs.map(\.script) }
    }

    private mutating func apply(_ message: TokenMessage, _ context: AnchorContext) throws -> AnchorResult {
        switch message {
        case .fractalMint, .fractalInvoice, .fractalPayment:
            return .refused(.fractalEngineV1)
        case .mint(let mint):
            return try applyMint(mint, message, context)
        case .invoice(let invoice):
            return try applyInvoice(invoice, message, context)
        case .payment(let payment):
            if case .match(let sell, let buy) = payment.reservation {
                return try applyMatchPayment(sell: sell, buy: buy, context)
            }
            return try applyPayment(payment, context)
        case .sellOffer(let offer):
            return try applySellOffer(offer, message, context)
        case .buyOffer(let offer):
            return try applyBuyOffer(offer, context)
        case .deleteBuyOffer(let deletion):
            return try applyDeletion(deletion, side: .buy, context)
        case .deleteSellOffer(let deletion):
            return try applyDeletion(deletion, side: .sell, context)
        case .approval(let approval):
            return try applyApproval(approval, context)
        }
    }

    private mutating func applyMint(
        _ mint: TokenMint, _ message: TokenMessage, _ context: AnchorContext
    ) throws -> AnchorResult {
        let parties = try TokenProtocol.namedParties(
            of: message, outputScripts: context.scripts,
            anchorOutputIndex: context.outputIndex, chain: context.chain)
        let managers = parties.map { $0.address.encode(chain: context.chain) }
        let token = context.position.description
        try put(
            .tokens,
            [
                "chain": .text(block.network), "token": .text(token), "height": .integer(block.height),
                "position": .integer(Int64(context.anchor.position)), "tx": .text(context.anchor.tx),
                "owner": .text(context.actorText), "supply": .integer(Int64(mint.supply)),
                "record_hash": .text(mint.recordHash.hex),
                "managers": .text(JSON.array(managers.map { JSON.string($0) }).serialized()),
                "min_approvals": .integer(Int64(mint.minApprovals)),
            ])
        try putTokenBalance(token: token, address: context.actorText, available: Int64(mint.supply), reserved: 0)
        return .applied
    }

    private mutating func applyInvoice(
        _ invoice: TokenInvoice, _ message: TokenMessage,
        _ context: AnchorContext
    ) throws -> AnchorResult {
        let parties = try TokenProtocol.namedParties(
            of: message, outputScripts: context.scripts,
            anchorOutputIndex: context.outputIndex, chain: context.chain)
        let token = invoice.token.description
        guard try ledger.journalRow(.tokens, key: ["chain": .text(block.network), "token": .text(token)]) != nil else {
            return .refused(.unknownToken)
        }
        guard Int64(invoice.expiryHeight) > block.height else { return .refused(.expiredOnArrival) }
        let seller = try tokenBalance(token: token, address: context.actorText)
        // Reservations never exceed what the seller holds, checked here, in the block's transaction.
        guard seller.available >= Int64(invoice.quantity) else { return .refused(.insufficientTokens) }
        guard let buyer = parties.first(where: { $0.role == .buyer })?.address else {
            return .invalid("missing_named_output")
        }
        let payee = parties.first(where: { $0.role == .payee })?.address ?? context.actor
        let (owed, overflow) = invoice.quantity.multipliedReportingOverflow(by: invoice.unitPriceKoinu)
        precondition(!overflow && owed <= TokenProtocol.maxMoneyKoinu, "the codec bounds quantity × price")
        try putTokenBalance(
            token: token, address: context.actorText, available: seller.available - Int64(invoice.quantity),
            reserved: seller.reserved + Int64(invoice.quantity))
        try put(
            .invoices,
            [
                "chain": .text(block.network), "invoice": .text(context.position.description), "token": .text(token),
                "height": .integer(block.height), "tx": .text(context.anchor.tx), "seller": .text(context.actorText),
                "buyer": .text(buyer.encode(chain: context.chain)),
                "payee_script": .text(Hex.encode(payee.scriptPubKey)),
                "quantity": .integer(Int64(invoice.quantity)), "unit_price": .integer(Int64(invoice.unitPriceKoinu)),
                "owed": .integer(Int64(owed)), "expiry_height": .integer(Int64(invoice.expiryHeight)),
                "record_hash": .text(invoice.recordHash.hex), "state": .text("open"), "payment_tx": .null,
                "payment_height": .null, "paid": .null, "settled_height": .null,
            ])
        return .applied
    }

    /// A payment of an invoice: by its buyer, in time, at least what is owed to the payee's exact script.
    private mutating func applyPayment(_ payment: TokenPayment, _ context: AnchorContext) throws -> AnchorResult {
        guard case .invoice(let position) = payment.reservation else {
            preconditionFailure("match payments are the market's")
        }
        let key: JournalRow = ["chain": .text(block.network), "invoice": .text(position.description)]
        guard var invoice = try ledger.journalRow(.invoices, key: key) else { return .refused(.unknownInvoice) }
        guard invoice["state"] == .text("open") else { return .refused(.invoiceNotOpen) }
        guard let expiry = invoice["expiry_height"]?.integer, block.height < expiry else {
            return .refused(.latePayment)
        }
        guard invoice["buyer"] == .text(context.actorText) else { return .refused(.wrongPayer) }
        guard let payeeHex = invoice["payee_script"]?.text, let payee = Hex.decode(payeeHex),
            let owed = invoice["owed"]?.integer
        else {
            throw TokError(.internalError, "invoice \(position) is stored without its payee or amount")
        }
        // Integers only: the outputs' values in koinu, each at most MAX_MONEY, summed without overflow.
        var paid: UInt64 = 0
        for output in context.anchor.outputs where output.script == payee {
            paid = paid &+ min(output.value, TokenProtocol.maxMoneyKoinu)
        }
        guard paid >= UInt64(owed) else { return .refused(.shortPayment) }
        invoice["state"] = .text("paid")
        invoice["payment_tx"] = .text(context.anchor.tx)
        invoice["payment_height"] = .integer(block.height)
        invoice["paid"] = .integer(Int64(paid))
        try put(.invoices, invoice)
        return .applied
    }

    // On invoices_expiring and invoices_settling; no ORDER BY invoice (sorted after), which would make SQLite walk
    // the primary key, every invoice ever made, at every block.
    static let expiringInvoicesSQL =
        "SELECT invoice FROM invoices WHERE chain = :chain AND state = 'open' AND expiry_height <= :height"
    static let settlingInvoicesSQL =
        "SELECT invoice FROM invoices WHERE chain = :chain AND state = 'paid' AND payment_height <= :height"

    /// Start of the block: open invoices whose window ends here give their reservation back.
    mutating func expireInvoices() throws {
        let query = try database.statement(BlockWriter.expiringInvoicesSQL)
        try query.bind("chain", block.network).bind("height", block.height)
        var expiring: [String] = []
        while try query.step() { expiring.append(query.text("invoice")) }
        query.reset()
        expiring.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for id in expiring {
            guard
                var invoice = try ledger.journalRow(
                    .invoices, key: ["chain": .text(block.network), "invoice": .text(id)]),
                let token = invoice["token"]?.text, let seller = invoice["seller"]?.text,
                let quantity = invoice["quantity"]?.integer
            else { continue }
            let balance = try tokenBalance(token: token, address: seller)
            try putTokenBalance(
                token: token, address: seller, available: balance.available + quantity,
                reserved: balance.reserved - quantity)
            invoice["state"] = .text("expired")
            try put(.invoices, invoice)
        }
    }

    /// Paid invoices whose payment is at the confirmation level settle (the
    /// tokens move seller → buyer), with their approvals when the token has
    /// asset managers; without them they wait, and go back to the seller at
    /// the invoice's expiry.
    mutating func settleInvoices(upTo height: Int64) throws {
        let query = try database.statement(BlockWriter.settlingInvoicesSQL)
        try query.bind("chain", block.network).bind("height", height)
        var settling: [String] = []
        while try query.step() { settling.append(query.text("invoice")) }
        query.reset()
        settling.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for id in settling {
            guard
                var invoice = try ledger.journalRow(
                    .invoices, key: ["chain": .text(block.network), "invoice": .text(id)]),
                let token = invoice["token"]?.text, let seller = invoice["seller"]?.text,
                let buyer = invoice["buyer"]?.text,
                let quantity = invoice["quantity"]?.integer, let expiry = invoice["expiry_height"]?.integer
            else { continue }
            guard try approved("invoice:\(id)", token: token) else {
                if expiry <= block.height {
                    try release(quantity, token: token, seller: seller)
                    invoice["state"] = .text("expired")
                    try put(.invoices, invoice)
                }
                continue
            }
            try deliver(quantity, token: token, from: seller, to: buyer)
            invoice["state"] = .text("settled")
            invoice["settled_height"] = .integer(block.height)
            try put(.invoices, invoice)
        }
    }

    // MARK: Balances

    /// A settled sale: the seller's reserved tokens become the buyer's.
    mutating func deliver(_ quantity: Int64, token: String, from seller: String, to buyer: String) throws {
        let from = try tokenBalance(token: token, address: seller)
        precondition(from.reserved >= quantity, "a paid reservation's tokens are reserved")
        try putTokenBalance(
            token: token, address: seller, available: from.available, reserved: from.reserved - quantity)
        let to = try tokenBalance(token: token, address: buyer)
        try putTokenBalance(token: token, address: buyer, available: to.available + quantity, reserved: to.reserved)
    }

    func tokenBalance(token: String, address: String) throws -> (available: Int64, reserved: Int64) {
        let row = try ledger.journalRow(
            .tokenBalances,
            key: [
                "chain": .text(block.network), "token": .text(token), "address": .text(address),
            ])
        return (row?["available"]?.integer ?? 0, row?["reserved"]?.integer ?? 0)
    }

    mutating func putTokenBalance(token: String, address: String, available: Int64, reserved: Int64) throws {
        precondition(available >= 0 && reserved >= 0, "token balances are never negative")
        try put(
            .tokenBalances,
            [
                "chain": .text(block.network), "token": .text(token), "address": .text(address),
                "available": .integer(available), "reserved": .integer(reserved),
            ])
    }
}
