/// What tok knows about one EVM chain, as data (the EVM counterpart of
/// `UTXOChains`): its id, and its native coin's SLIP-44 number and decimals.
/// A chain not in the table still works; a known one is checked against it.
public struct EVMChainParameters: Sendable, Equatable {
    public let name: String
    /// EIP-155 chain id, the reference of its CAIP-2 id (`eip155:<id>`).
    public let chainId: UInt64
    /// SLIP-44 number of the native coin, as in `eip155:<id>/slip44:<n>`.
    public let nativeSlip44: UInt32
    public let nativeDecimals: Int

    public var caip2: ChainId {
        guard let id = try? ChainId(parsing: "eip155:\(chainId)") else {
            preconditionFailure("eip155:\(chainId) is a CAIP-2 id")
        }
        return id
    }
}

public enum EVMChains {
    public static let all: [EVMChainParameters] = [
        EVMChainParameters(name: "ethereum-mainnet", chainId: 1, nativeSlip44: 60, nativeDecimals: 18),
        EVMChainParameters(name: "ethereum-sepolia", chainId: 11_155_111, nativeSlip44: 60, nativeDecimals: 18),
        EVMChainParameters(name: "ethereum-holesky", chainId: 17_000, nativeSlip44: 60, nativeDecimals: 18),
        // Rollups settle in ETH: their native coin is ETH (SLIP-44 60).
        EVMChainParameters(name: "optimism", chainId: 10, nativeSlip44: 60, nativeDecimals: 18),
        EVMChainParameters(name: "arbitrum-one", chainId: 42_161, nativeSlip44: 60, nativeDecimals: 18),
        EVMChainParameters(name: "base", chainId: 8_453, nativeSlip44: 60, nativeDecimals: 18),
        EVMChainParameters(name: "polygon", chainId: 137, nativeSlip44: 966, nativeDecimals: 18),
        EVMChainParameters(name: "bnb-smart-chain", chainId: 56, nativeSlip44: 714, nativeDecimals: 18),
        // The local test chain (eth-tester) the tests and the demo run against.
        EVMChainParameters(name: "local-test", chainId: 1_337, nativeSlip44: 60, nativeDecimals: 18),
    ]

    /// The row for a CAIP-2 id, or nil when tok does not know the chain.
    public static func parameters(for chain: ChainId) -> EVMChainParameters? {
        all.first { $0.caip2 == chain }
    }

    /// Checks the table itself, as Bitcoin Core asserts its chain parameters: one row per chain id and name.
    static let checked: Bool = {
        precondition(Set(all.map(\.chainId)).count == all.count, "EVM chain ids are unique")
        precondition(Set(all.map(\.name)).count == all.count, "EVM chain names are unique")
        return true
    }()
}
