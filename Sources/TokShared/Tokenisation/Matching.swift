/// The matching rule of tok's market, as a pure function: no database, no
/// clock, no randomness, so every instance that sees the same binding offers in
/// the same chain order makes the same fills.
///
/// An offer that binds (its anchor is in a block) is matched at once against
/// the resting offers of the other side of the same token:
///   - best price first (the lowest sell for a buy, the highest buy for a
///     sell), then earliest chain position (height, then transaction index);
///   - only offers that cross: a resting sell at or below the buy's maximum
///     price, a resting buy at or above the sell's price;
///   - the resting offer's price applies to each fill;
///   - partial fills, as much of each resting offer as is left to fill;
///   - never against the author's own offers (no trade with oneself);
///   - integers only: prices are whole koinu per token unit, compared as such.
/// The caller hands the candidates in priority order (the ledger's index
/// gives them so); the rule stops at the first one that does not cross, so
/// the cost per order is that of the fills it makes plus one index seek.
public enum Matching {
    public enum Side: String, Sendable {
        case buy, sell

        public var opposite: Side { self == .buy ? .sell : .buy }
    }

    /// A resting offer as the book holds it.
    public struct RestingOffer: Sendable, Equatable {
        public var offer: ChainPosition
        public var author: String
        /// What is left to fill.
        public var remaining: UInt64
        /// The sell's price, or the buy's maximum price, koinu per unit.
        public var unitPriceKoinu: UInt64

        public init(offer: ChainPosition, author: String, remaining: UInt64, unitPriceKoinu: UInt64) {
            self.offer = offer
            self.author = author
            self.remaining = remaining
            self.unitPriceKoinu = unitPriceKoinu
        }
    }

    /// The offer that binds now.
    public struct IncomingOffer: Sendable, Equatable {
        public var side: Side
        public var author: String
        public var quantity: UInt64
        /// The sell's price, or the buy's maximum price.
        public var limitPriceKoinu: UInt64

        public init(side: Side, author: String, quantity: UInt64, limitPriceKoinu: UInt64) {
            self.side = side
            self.author = author
            self.quantity = quantity
            self.limitPriceKoinu = limitPriceKoinu
        }
    }

    /// One fill: `quantity` of the resting offer at its price.
    public struct Fill: Sendable, Equatable {
        public var resting: ChainPosition
        public var quantity: UInt64
        public var unitPriceKoinu: UInt64
    }

    /// Whether a resting offer's price crosses the incoming offer's limit.
    public static func crosses(_ incoming: IncomingOffer, _ resting: RestingOffer) -> Bool {
        switch incoming.side {
        case .buy: return resting.unitPriceKoinu <= incoming.limitPriceKoinu
        case .sell: return resting.unitPriceKoinu >= incoming.limitPriceKoinu
        }
    }

    /// Whether `a` comes before `b` in the book of `side` (the side `a` and `b` rest on).
    public static func precedes(_ a: RestingOffer, _ b: RestingOffer, side: Side) -> Bool {
        if a.unitPriceKoinu != b.unitPriceKoinu {
            return side == .sell ? a.unitPriceKoinu < b.unitPriceKoinu : a.unitPriceKoinu > b.unitPriceKoinu
        }
        return a.offer < b.offer
    }

    /// The fills of `incoming` against `candidates`, which are the other
    /// side's resting offers in priority order. `next` is called until it
    /// returns nil, the incoming offer is filled, or a candidate does not cross.
    public static func fills(
        for incoming: IncomingOffer, candidates next: () throws -> RestingOffer?
    ) rethrows -> [Fill] {
        var left = incoming.quantity
        var fills: [Fill] = []
        var previous: RestingOffer?
        while left > 0, let candidate = try next() {
            if let previous {
                precondition(
                    !precedes(candidate, previous, side: incoming.side.opposite), "candidates come in priority order")
            }
            previous = candidate
            guard crosses(incoming, candidate) else { break }
            if candidate.author == incoming.author || candidate.remaining == 0 { continue }
            let quantity = min(left, candidate.remaining)
            fills.append(Fill(resting: candidate.offer, quantity: quantity, unitPriceKoinu: candidate.unitPriceKoinu))
            left -= quantity
        }
        return fills
    }

    /// The same over an array (tests, small books).
    public static func fills(for incoming: IncomingOffer, against book: [RestingOffer]) -> [Fill] {
        var iterator = book.sorted { precedes($0, $1, side: incoming.side.opposite) }.makeIterator()
        return fills(for: incoming) { iterator.next() }
    }
}
