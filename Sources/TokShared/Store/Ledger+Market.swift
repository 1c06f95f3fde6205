/// tok's market in the ledger: binding offers, automatic matching (the pure
/// rule in Tokenisation/Matching.swift, run inside the block's transaction),
/// settlement of matches by the buyer's payment, asset managers' approvals,
/// and windows and expiries by block height. Every write is journaled.
///
///   - a sell offer escrows its quantity from its author when it binds, then
///     matches resting buy offers; a buy offer matches resting sell offers; the
///     rest of either rests in the book;
///   - a match reserves its quantity for the buyer over [match height, match
///     height + payment_window_blocks); the buyer's payment (input 0, at least
///     quantity × the resting price koinu to the sell offer's payee script,
///     inside the window) settles it at the confirmation level, and with the
///     token's asset managers' approvals when it has them;
///   - a window that passes unpaid returns the tokens to the sell offer, or to
///     the seller when that offer is gone (expired, deleted);
///   - a delete offer by its author releases what is not yet matched.
extension JournaledTable {
    static let offers = JournaledTable(
        name: "offers",
        columns: [
            ("chain", .text), ("offer", .text), ("side", .text), ("token", .text), ("author", .text),
            ("height", .integer),
            ("position", .integer), ("tx", .text), ("quantity", .integer), ("remaining", .integer),
            ("unit_price", .integer),
            ("expiry_height", .integer), ("record_hash", .text), ("payee_script", .text), ("state", .text),
        ], key: ["chain", "offer"])

    static let matches = JournaledTable(
        name: "matches",
        columns: [
            ("chain", .text), ("sell_offer", .text), ("buy_offer", .text), ("token", .text), ("seller", .text),
            ("buyer", .text),
            ("quantity", .integer), ("unit_price", .integer), ("owed", .integer), ("payee_script", .text),
            ("height", .integer),
            ("window_end", .integer), ("state", .text), ("payment_tx", .text), ("payment_height", .integer),
            ("paid", .integer),
            ("settled_height", .integer),
        ], key: ["chain", "sell_offer", "buy_offer"])

    static let approvals = JournaledTable(
        name: "approvals",
        columns: [
            ("chain", .text), ("reservation", .text), ("manager", .text), ("height", .integer), ("tx", .text),
        ], key: ["chain", "reservation", "manager"])
}

extension BlockWriter {
    // MARK: Offers

    mutating func applySellOffer(
        _ offer: TokenSellOffer, _ message: TokenMessage, _ context: AnchorContext
    ) throws -> AnchorResult {
        let parties = try TokenProtocol.namedParties(
            of: message, outputScripts: context.scripts,
            anchorOutputIndex: context.outputIndex, chain: context.chain)
        let token = offer.token.description
        guard try tokenRow(token) != nil else { return .refused(.unknownToken) }
        guard Int64(offer.expiryHeight) > block.height else { return .refused(.expiredOnArrival) }
        let seller = try tokenBalance(token: token, address: context.actorText)
        guard seller.available >= Int64(offer.quantity) else { return .refused(.insufficientTokens) }
        // Escrowed from the moment it binds: reserved at the seller, for the book and its matches.
        try putTokenBalance(
            token: token, address: context.actorText, available: seller.available - Int64(offer.quantity),
            reserved: seller.reserved + Int64(offer.quantity))
        let payee = parties.first(where: { $0.role == .payee })?.address ?? context.actor
        let incoming = Matching.IncomingOffer(
            side: .sell, author: context.actorText, quantity: offer.quantity,
            limitPriceKoinu: offer.unitPriceKoinu)
        let fills = try bookFills(token: token, incoming: incoming)
        let id = context.position.description
        let payeeHex = Hex.encode(payee.scriptPubKey)
        var left = offer.quantity
        for fill in fills {
            try fillResting(fill, token: token)
            let buyer = try offerRow(fill.resting.description)?["author"]?.text ?? ""
            try putMatch(
                sell: id, buy: fill.resting.description, token: token, seller: context.actorText, buyer: buyer,
                fill: fill, payeeScript: payeeHex)
            left -= fill.quantity
        }
        try put(
            .offers,
            offerRow(
                id: id, side: .sell, token: token, context: context, quantity: offer.quantity, remaining: left,
                price: offer.unitPriceKoinu, expiry: offer.expiryHeight, hash: offer.recordHash.hex,
                payeeScript: payeeHex))
        return .applied
    }

    mutating func applyBuyOffer(_ offer: TokenBuyOffer, _ context: AnchorContext) throws -> AnchorResult {
        let token = offer.token.description
        guard try tokenRow(token) != nil else { return .refused(.unknownToken) }
        guard Int64(offer.expiryHeight) > block.height else { return .refused(.expiredOnArrival) }
        let incoming = Matching.IncomingOffer(
            side: .buy, author: context.actorText, quantity: offer.quantity,
            limitPriceKoinu: offer.maxUnitPriceKoinu)
        let fills = try bookFills(token: token, incoming: incoming)
        let id = context.position.description
        var left = offer.quantity
        for fill in fills {
            guard let sell = try offerRow(fill.resting.description), let seller = sell["author"]?.text,
                let payee = sell["payee_script"]?.text
            else { continue }
            try fillResting(fill, token: token)
            try putMatch(
                sell: fill.resting.description, buy: id, token: token, seller: seller, buyer: context.actorText,
                fill: fill, payeeScript: payee)
            left -= fill.quantity
        }
        try put(
            .offers,
            offerRow(
                id: id, side: .buy, token: token, context: context, quantity: offer.quantity, remaining: left,
                price: offer.maxUnitPriceKoinu, expiry: offer.expiryHeight, hash: offer.recordHash.hex,
                payeeScript: nil))
        return .applied
    }

    /// The fills of `incoming` against the other side of the token's book, best first (index order).
    private func bookFills(token: String, incoming: Matching.IncomingOffer) throws -> [Matching.Fill] {
        // Two partial indexes, one per side, each in that side's priority order.
        let query = try database.statement(
            incoming.side == .buy
                ? """
                SELECT offer, author, remaining, unit_price FROM offers
                WHERE chain = :chain AND token = :token AND side = 'sell' AND state = 'open'
                ORDER BY unit_price, height, position
                """
                : """
                SELECT offer, author, remaining, unit_price FROM offers
                WHERE chain = :chain AND token = :token AND side = 'buy' AND state = 'open'
                ORDER BY unit_price DESC, height, position
                """)
        defer { query.reset() }
        try query.bind("chain", block.network).bind("token", token)
        // Nothing is written while the book is read: the fills are decided first.
        return try Matching.fills(for: incoming) { () throws -> Matching.RestingOffer? in
            guard try query.step(), let position = ChainPosition(parsing: query.text("offer")) else { return nil }
            return Matching.RestingOffer(
                offer: position, author: query.text("author"),
                remaining: UInt64(max(0, query.int64("remaining"))),
                unitPriceKoinu: UInt64(max(0, query.int64("unit_price"))))
        }
    }

    /// Takes a fill out of the resting offer.
    private mutating func fillResting(_ fill: Matching.Fill, token: String) throws {
        guard var resting = try offerRow(fill.resting.description), let remaining = resting["remaining"]?.integer,
            remaining >= Int64(fill.quantity)
        else {
            throw TokError(.internalError, "resting offer \(fill.resting) cannot give \(fill.quantity)")
        }
        resting["remaining"] = .integer(remaining - Int64(fill.quantity))
        if remaining == Int64(fill.quantity) { resting["state"] = .text("filled") }
        try put(.offers, resting)
    }

    private mutating func putMatch(
        sell: String, buy: String, token: String, seller: String, buyer: String,
        fill: Matching.Fill, payeeScript: String
    ) throws {
        let (owed, overflow) = fill.quantity.multipliedReportingOverflow(by: fill.unitPriceKoinu)
        precondition(!overflow && owed <= TokenProtocol.maxMoneyKoinu, "a fill is bounded by both offers' own products")
        try put(
            .matches,
            [
                "chain": .text(block.network), "sell_offer": .text(sell), "buy_offer": .text(buy),
                "token": .text(token),
                "seller": .text(seller), "buyer": .text(buyer), "quantity": .integer(Int64(fill.quantity)),
                "unit_price": .integer(Int64(fill.unitPriceKoinu)), "owed": .integer(Int64(owed)),
                "payee_script": .text(payeeScript),
                "height": .integer(block.height),
                "window_end": .integer(block.height + Int64(network.paymentWindowBlocks)),
                "state": .text("reserved"), "payment_tx": .null, "payment_height": .null, "paid": .null,
                "settled_height": .null,
            ])
    }

    private func offerRow(
        id: String, side: Matching.Side, token: String, context: AnchorContext, quantity: UInt64,
        remaining: UInt64, price: UInt64, expiry: UInt32, hash: String, payeeScript: String?
    ) -> JournalRow {
        [
            "chain": .text(block.network), "offer": .text(id), "side": .text(side.rawValue), "token": .text(token),
            "author": .text(context.actorText), "height": .integer(block.height),
            "position": .integer(Int64(context.anchor.position)),
            "tx": .text(context.anchor.tx), "quantity": .integer(Int64(quantity)),
            "remaining": .integer(Int64(remaining)),
            "unit_price": .integer(Int64(price)), "expiry_height": .integer(Int64(expiry)), "record_hash": .text(hash),
            "payee_script": payeeScript.map { .text($0) } ?? .null, "state": .text(remaining == 0 ? "filled" : "open"),
        ]
    }

    func offerRow(_ id: String) throws -> JournalRow? {
        try ledger.journalRow(.offers, key: ["chain": .text(block.network), "offer": .text(id)])
    }

    func tokenRow(_ token: String) throws -> JournalRow? {
        try ledger.journalRow(.tokens, key: ["chain": .text(block.network), "token": .text(token)])
    }

    /// A delete offer by its author releases what is not yet matched.
    mutating func applyDeletion(
        _ deletion: OfferDeletion, side: Matching.Side, _ context: AnchorContext
    ) throws -> AnchorResult {
        guard var offer = try offerRow(deletion.offer.description), offer["side"] == .text(side.rawValue) else {
            return .refused(.unknownOffer)
        }
        guard offer["author"] == .text(context.actorText) else { return .refused(.notOfferAuthor) }
        guard offer["state"] == .text("open"), let remaining = offer["remaining"]?.integer,
            let token = offer["token"]?.text
        else { return .refused(.offerNotOpen) }
        if side == .sell { try release(remaining, token: token, seller: context.actorText) }
        offer["remaining"] = .integer(0)
        offer["state"] = .text("deleted")
        try put(.offers, offer)
        return .applied
    }

    /// Escrowed tokens back to the seller's available balance.
    mutating func release(_ quantity: Int64, token: String, seller: String) throws {
        guard quantity > 0 else { return }
        let balance = try tokenBalance(token: token, address: seller)
        try putTokenBalance(
            token: token, address: seller, available: balance.available + quantity,
            reserved: balance.reserved - quantity)
    }

    // MARK: Payments and approvals of matches

    /// A match's payment: by its buyer, inside the window, at least what is owed to the sell offer's payee.
    mutating func applyMatchPayment(
        sell: ChainPosition, buy: ChainPosition, _ context: AnchorContext
    ) throws -> AnchorResult {
        let key: JournalRow = [
            "chain": .text(block.network), "sell_offer": .text(sell.description), "buy_offer": .text(buy.description),
        ]
        guard var match = try ledger.journalRow(.matches, key: key) else { return .refused(.unknownMatch) }
        guard match["state"] == .text("reserved") else { return .refused(.matchNotReserved) }
        guard let end = match["window_end"]?.integer, block.height < end else { return .refused(.latePayment) }
        guard match["buyer"] == .text(context.actorText) else { return .refused(.wrongPayer) }
        guard let payee = match["payee_script"]?.text.flatMap(Hex.decode), let owed = match["owed"]?.integer else {
            throw TokError(.internalError, "match \(sell)/\(buy) is stored without its payee or amount")
        }
        var paid: UInt64 = 0
        for output in context.anchor.outputs where output.script == payee {
            paid = paid &+ min(output.value, TokenProtocol.maxMoneyKoinu)
        }
        guard paid >= UInt64(owed) else { return .refused(.shortPayment) }
        match["state"] = .text("paid")
        match["payment_tx"] = .text(context.anchor.tx)
        match["payment_height"] = .integer(block.height)
        match["paid"] = .integer(Int64(paid))
        try put(.matches, match)
        return .applied
    }

    /// An asset manager's approval of a reservation (an invoice or a match) of
    /// a managed token, counted only before the reservation's end.
    mutating func applyApproval(_ approval: TokenApproval, _ context: AnchorContext) throws -> AnchorResult {
        let reservation: String, token: String, end: Int64
        switch approval.reservation {
        case .invoice(let position):
            guard
                let invoice = try ledger.journalRow(
                    .invoices, key: ["chain": .text(block.network), "invoice": .text(position.description)]),
                let owned = invoice["token"]?.text, let expiry = invoice["expiry_height"]?.integer
            else {
                return .refused(.unknownReservation)
            }
            (reservation, token, end) = ("invoice:\(position)", owned, expiry)
        case .match(let sell, let buy):
            guard
                let match = try ledger.journalRow(
                    .matches,
                    key: [
                        "chain": .text(block.network), "sell_offer": .text(sell.description),
                        "buy_offer": .text(buy.description),
                    ]), let owned = match["token"]?.text, let windowEnd = match["window_end"]?.integer
            else {
                return .refused(.unknownReservation)
            }
            (reservation, token, end) = ("match:\(sell)/\(buy)", owned, windowEnd)
        }
        guard let managers = try tokenRow(token).flatMap({ $0["managers"]?.text }),
            case .success(let list) = JSON.parse(managers),
            list.arrayElements.contains(where: { $0.stringValue == context.actorText })
        else {
            return .refused(.notAManager)
        }
        guard block.height < end else { return .refused(.approvalLate) }
        let key: JournalRow = [
            "chain": .text(block.network), "reservation": .text(reservation), "manager": .text(context.actorText),
        ]
        guard try ledger.journalRow(.approvals, key: key) == nil else { return .refused(.alreadyApproved) }
        var row = key
        row["height"] = .integer(block.height)
        row["tx"] = .text(context.anchor.tx)
        try put(.approvals, row)
        return .applied
    }

    /// Whether a reservation of `token` has the approvals its managers require.
    func approved(_ reservation: String, token: String) throws -> Bool {
        guard let required = try tokenRow(token)?["min_approvals"]?.integer, required > 0 else { return true }
        let query = try database.statement(
            """
            SELECT count(*) AS approvals FROM approvals WHERE chain = :chain AND reservation = :reservation
            """)
        defer { query.reset() }
        try query.bind("chain", block.network).bind("reservation", reservation)
        return try query.step() && query.int64("approvals") >= required
    }

    // MARK: Windows and expiries (start of the block), settlement (at the level)

    /// Start of the block: unpaid matches whose window ends here give their
    /// tokens back (to the sell offer, or to the seller once it is gone);
    /// offers whose expiry is here leave the book, a sell's rest back to its seller.
    mutating func expireMarket() throws {
        for key in try rows(of: .matches, where: BlockWriter.expiringMatches) {
            guard var match = try ledger.journalRow(.matches, key: key) else { continue }
            try returnMatch(&match)
        }
        for key in try rows(of: .offers, where: BlockWriter.expiringOffers) {
            guard var offer = try ledger.journalRow(.offers, key: key), let token = offer["token"]?.text,
                let author = offer["author"]?.text, let remaining = offer["remaining"]?.integer
            else { continue }
            if offer["side"] == .text("sell") { try release(remaining, token: token, seller: author) }
            offer["remaining"] = .integer(0)
            offer["state"] = .text("expired")
            try put(.offers, offer)
        }
    }

    /// A match that will not settle: its tokens back to its sell offer if that
    /// still rests in the book, else to the seller.
    private mutating func returnMatch(_ match: inout JournalRow) throws {
        guard let sell = match["sell_offer"]?.text, let quantity = match["quantity"]?.integer,
            let token = match["token"]?.text,
            let seller = match["seller"]?.text
        else { return }
        if var offer = try offerRow(sell), offer["state"] == .text("open") || offer["state"] == .text("filled"),
            let expiry = offer["expiry_height"]?.integer, expiry > block.height,
            let remaining = offer["remaining"]?.integer
        {
            offer["remaining"] = .integer(remaining + quantity)
            offer["state"] = .text("open")
            try put(.offers, offer)
        } else {
            try release(quantity, token: token, seller: seller)
        }
        match["state"] = .text("expired")
        try put(.matches, match)
    }

    /// Paid matches at the level settle, with their approvals; without them, they wait for the window's end.
    mutating func settleMatches(upTo level: Int64) throws {
        for key in try rows(of: .matches, where: BlockWriter.settlingMatches, level: level) {
            guard var match = try ledger.journalRow(.matches, key: key), let token = match["token"]?.text,
                let seller = match["seller"]?.text, let buyer = match["buyer"]?.text,
                let quantity = match["quantity"]?.integer,
                let sell = match["sell_offer"]?.text, let buy = match["buy_offer"]?.text,
                let end = match["window_end"]?.integer
            else { continue }
            guard try approved("match:\(sell)/\(buy)", token: token) else {
                if end <= block.height { try returnMatch(&match) }
                continue
            }
            try deliver(quantity, token: token, from: seller, to: buyer)
            match["state"] = .text("settled")
            match["settled_height"] = .integer(block.height)
            try put(.matches, match)
        }
    }

    // The scans of every block, each on its partial index (matches_open, offers_expiring), so a block costs what
    // is due in it, not the size of the book or of the market's history. A condition repeats its index's WHERE
    // (SQLite proves a partial index usable only from terms it finds verbatim); `window_end >= 0` (always true)
    // gives the settlement scan a range on matches_open, without which SQLite takes the primary key.
    static let expiringMatches = "state IN ('reserved', 'paid') AND state = 'reserved' AND window_end <= :height"
    static let settlingMatches =
        "state IN ('reserved', 'paid') AND state = 'paid' AND window_end >= 0 AND payment_height <= :level"
    static let expiringOffers = "state = 'open' AND expiry_height <= :height"

    /// The query of `rows(of:where:)`. No ORDER BY: on the key, it makes SQLite walk the primary key instead of
    /// the index, every row of the chain's table; the keys are sorted after.
    static func scan(_ table: JournaledTable, where condition: String) -> String {
        "SELECT \(table.key.joined(separator: ", ")) FROM \(table.name) WHERE chain = :chain AND \(condition)"
    }

    /// Every query a connected block runs over a whole market or invoice table (MarketLedgerTests checks their plans).
    static var blockScans: [String] {
        [
            scan(.matches, where: expiringMatches), scan(.matches, where: settlingMatches),
            scan(.offers, where: expiringOffers),
            expiringInvoicesSQL, settlingInvoicesSQL,
        ]
    }

    /// Keys of the rows of a market table matching `condition` (with :chain, :height, :level bound), in key order.
    private func rows(of table: JournaledTable, where condition: String, level: Int64? = nil) throws -> [JournalRow] {
        let query = try database.statement(BlockWriter.scan(table, where: condition))
        defer { query.reset() }
        try query.bind("chain", block.network)
        if condition.contains(":height") { try query.bind("height", block.height) }
        if condition.contains(":level") { try query.bind("level", level ?? block.height) }
        var keys: [JournalRow] = []
        while try query.step() {
            var key: JournalRow = [:]
            for column in table.key { key[column] = .text(query.text(column)) }
            keys.append(key)
        }
        return keys.sorted { a, b in
            for column in table.key {
                let x = a[column]?.text ?? "", y = b[column]?.text ?? ""
                if x != y { return x.utf8.lexicographicallyPrecedes(y.utf8) }  // SQLite's BINARY order
            }
            return false
        }
    }
}
