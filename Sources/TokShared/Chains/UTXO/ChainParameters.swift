/// What tok needs to know about one bip122 (Bitcoin-family) chain: identity, address and key
/// version bytes, and the relay policy a transaction must meet. Every chain is a row of data in
/// `UTXOChains.all`; code never branches on which coin it is looking at.
///
/// Amounts are base units (koinu, litoshi, satoshi): 1 coin = 10^coinDecimals base units.
/// Identity fields are constants of the chain; the policy fields are `var` because node
/// operators change them (`-minrelaytxfee`, `-dustlimit`, Dogecoin's 1.14.5 fee cut) and tok's
/// configuration must be able to follow.
public struct UTXOChainParameters: Sendable, Equatable {
    /// Short lowercase name, e.g. "dogecoin-mainnet"; used in messages and configuration.
    public let name: String
    /// CAIP-2 id: `bip122:` + the first 32 hex digits of the genesis block hash.
    public let chainId: ChainId
    /// Genesis block hash in display order (as `getblockhash 0` prints it), 64 lowercase hex digits.
    public let genesisHash: String
    public let p2pkhVersion: UInt8
    public let p2shVersion: UInt8
    /// Wallet Import Format version byte (`dumpprivkey`).
    public let wifVersion: UInt8
    /// `signmessage` magic, e.g. "Dogecoin Signed Message:\n".
    public let messageMagic: String
    /// Fraction digits of one coin as the node's RPC prints it (8 on every chain here).
    public let coinDecimals: Int
    /// SLIP-44 coin type of the native coin, for CAIP-19 `slip44:<n>` asset ids. Test networks
    /// keep their coin's index: the chain id already says which network, and SLIP-44's shared
    /// testnet index 1 is a key-derivation convention, not an asset identity.
    public let slip44: UInt32
    /// Consensus MAX_MONEY: no output, and no sum of outputs, may exceed it.
    public let maxMoneyBaseUnits: UInt64
    /// Blocks after which a coinbase output may be spent (COINBASE_MATURITY).
    public let coinbaseMaturityBlocks: Int
    /// Merged mining (AuxPoW): the chain id in the top 16 bits of a block's version, on chains
    /// whose headers carry a parent chain's proof of work when the version has the 0x100 flag
    /// (Dogecoin). nil elsewhere: there, bit 8 of the version is only a BIP 9 signal.
    public let auxPowChainId: UInt32?

    /// Outputs below this are non-standard: nodes refuse to relay the transaction.
    public var dustLimitBaseUnits: UInt64
    /// Dogecoin only in practice: each output below it adds this amount to the required fee.
    /// nil where the chain has no such rule.
    public var softDustLimitBaseUnits: UInt64?
    /// The fee rate below which nodes refuse to relay, per 1000 bytes of serialized transaction.
    public var minRelayFeePerKilobyteBaseUnits: UInt64
    /// A flat minimum fee per transaction whatever its size (Dogecoin's recommended 0.01 DOGE);
    /// 0 where only the per-kilobyte rate applies.
    public var minTxFeeBaseUnits: UInt64

    /// `genesisHash` must be 64 lowercase hex digits; a malformed table row is a programming
    /// error, caught the first time the table is touched.
    public init(
        name: String, genesisHash: String,
        p2pkhVersion: UInt8, p2shVersion: UInt8, wifVersion: UInt8, messageMagic: String,
        coinDecimals: Int = 8, slip44: UInt32, maxMoneyBaseUnits: UInt64, coinbaseMaturityBlocks: Int,
        auxPowChainId: UInt32? = nil,
        dustLimitBaseUnits: UInt64, softDustLimitBaseUnits: UInt64?,
        minRelayFeePerKilobyteBaseUnits: UInt64, minTxFeeBaseUnits: UInt64
    ) {
        precondition(
            genesisHash.utf8.count == 64 && Hex.decode(genesisHash) != nil
                && genesisHash.lowercased() == genesisHash,
            "genesis hash of \(name) must be 64 lowercase hex digits")
        precondition(p2pkhVersion != p2shVersion, "\(name): P2PKH and P2SH version bytes must differ")
        precondition((0...18).contains(coinDecimals), "\(name): coinDecimals must be 0...18")
        self.name = name
        self.chainId = ChainId(namespace: "bip122", reference: String(genesisHash.prefix(32)))
        self.genesisHash = genesisHash
        self.p2pkhVersion = p2pkhVersion
        self.p2shVersion = p2shVersion
        self.wifVersion = wifVersion
        self.messageMagic = messageMagic
        self.coinDecimals = coinDecimals
        self.slip44 = slip44
        self.maxMoneyBaseUnits = maxMoneyBaseUnits
        self.coinbaseMaturityBlocks = coinbaseMaturityBlocks
        self.auxPowChainId = auxPowChainId
        self.dustLimitBaseUnits = dustLimitBaseUnits
        self.softDustLimitBaseUnits = softDustLimitBaseUnits
        self.minRelayFeePerKilobyteBaseUnits = minRelayFeePerKilobyteBaseUnits
        self.minTxFeeBaseUnits = minTxFeeBaseUnits
    }

    /// CAIP-19 asset type of the native coin, e.g. `bip122:1a91e3dace36e2be3bf030a65679fe82/slip44:3`.
    public var nativeAssetType: AssetType {
        AssetType(chain: chainId, assetNamespace: "slip44", assetReference: String(slip44), tokenId: nil)
    }
}

/// The bip122 chains tok knows. Sources: Dogecoin Core 1.14 chainparams.cpp and policy
/// (see shared/REFERENCE.md), Bitcoin Core's chainparams.cpp, and Litecoin Core 0.21 as
/// Debian ships it (its regtest genesis and policy values were read from a running node).
/// Every genesis hash is also recomputed from its block header in UTXOTransactionTests.
public enum UTXOChains {
    /// 1 coin = 10^8 base units on every chain here.
    private static let coin: UInt64 = 100_000_000

    // Dogecoin 1.14.5+ policy, the same on all three networks (the constants are not per-chain
    // in Dogecoin Core): 0.001 DOGE/kB relay, 0.01 DOGE minimum fee, 0.01 DOGE soft dust,
    // 0.001 DOGE hard dust. MAX_MONEY is 10 billion DOGE.
    private static let dogeRelayPerKilobyte = coin / 1000
    private static let dogeMinTxFee = coin / 100
    private static let dogeSoftDust = coin / 100
    private static let dogeHardDust = coin / 1000
    private static let dogeMaxMoney = 10_000_000_000 * coin
    /// Dogecoin's merged-mining chain id on all three networks (versionHex 0062xxxx).
    private static let dogeAuxPowChainId: UInt32 = 0x62

    public static let dogecoinMainnet = UTXOChainParameters(
        name: "dogecoin-mainnet",
        genesisHash: "1a91e3dace36e2be3bf030a65679fe821aa1d6ef92e7c9902eb318182c355691",
        p2pkhVersion: 30, p2shVersion: 22, wifVersion: 158, messageMagic: "Dogecoin Signed Message:\n",
        slip44: 3, maxMoneyBaseUnits: dogeMaxMoney, coinbaseMaturityBlocks: 240, auxPowChainId: dogeAuxPowChainId,
        dustLimitBaseUnits: dogeHardDust, softDustLimitBaseUnits: dogeSoftDust,
        minRelayFeePerKilobyteBaseUnits: dogeRelayPerKilobyte, minTxFeeBaseUnits: dogeMinTxFee)

    public static let dogecoinTestnet = UTXOChainParameters(
        name: "dogecoin-testnet",
        genesisHash: "bb0a78264637406b6360aad926284d544d7049f45189db5664f3c4d07350559e",
        p2pkhVersion: 113, p2shVersion: 196, wifVersion: 241, messageMagic: "Dogecoin Signed Message:\n",
        slip44: 3, maxMoneyBaseUnits: dogeMaxMoney, coinbaseMaturityBlocks: 240, auxPowChainId: dogeAuxPowChainId,
        dustLimitBaseUnits: dogeHardDust, softDustLimitBaseUnits: dogeSoftDust,
        minRelayFeePerKilobyteBaseUnits: dogeRelayPerKilobyte, minTxFeeBaseUnits: dogeMinTxFee)

    public static let dogecoinRegtest = UTXOChainParameters(
        name: "dogecoin-regtest",
        genesisHash: "3d2160a3b5dc4a9d62e7e66a295f70313ac808440ef7400d6c0772171ce973a5",
        p2pkhVersion: 111, p2shVersion: 196, wifVersion: 239, messageMagic: "Dogecoin Signed Message:\n",
        slip44: 3, maxMoneyBaseUnits: dogeMaxMoney, coinbaseMaturityBlocks: 60, auxPowChainId: dogeAuxPowChainId,
        dustLimitBaseUnits: dogeHardDust, softDustLimitBaseUnits: dogeSoftDust,
        minRelayFeePerKilobyteBaseUnits: dogeRelayPerKilobyte, minTxFeeBaseUnits: dogeMinTxFee)

    /// Litecoin Core 0.21 regtest, the real node tests run against. Checked on that node:
    /// `getblockhash 0`, relayfee 0.00001 LTC/kB, and a P2PKH output of 5460 litoshi relayed
    /// while 5459 was refused as dust (Litecoin's dust relay fee is 10x Bitcoin's).
    public static let litecoinRegtest = UTXOChainParameters(
        name: "litecoin-regtest",
        genesisHash: "530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9",
        p2pkhVersion: 111, p2shVersion: 58, wifVersion: 239, messageMagic: "Litecoin Signed Message:\n",
        slip44: 2, maxMoneyBaseUnits: 84_000_000 * coin, coinbaseMaturityBlocks: 100,
        dustLimitBaseUnits: 5460, softDustLimitBaseUnits: nil,
        minRelayFeePerKilobyteBaseUnits: 1000, minTxFeeBaseUnits: 0)

    // Bitcoin Core defaults: 1000 sat/kB relay; a P2PKH output is dust below 546 sat
    // (3 × its 182-byte spend cost at the 3000 sat/kB dust relay fee).
    public static let bitcoinMainnet = UTXOChainParameters(
        name: "bitcoin-mainnet",
        genesisHash: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        p2pkhVersion: 0, p2shVersion: 5, wifVersion: 128, messageMagic: "Bitcoin Signed Message:\n",
        slip44: 0, maxMoneyBaseUnits: 21_000_000 * coin, coinbaseMaturityBlocks: 100,
        dustLimitBaseUnits: 546, softDustLimitBaseUnits: nil,
        minRelayFeePerKilobyteBaseUnits: 1000, minTxFeeBaseUnits: 0)

    public static let bitcoinTestnet = UTXOChainParameters(
        name: "bitcoin-testnet",
        genesisHash: "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
        p2pkhVersion: 111, p2shVersion: 196, wifVersion: 239, messageMagic: "Bitcoin Signed Message:\n",
        slip44: 0, maxMoneyBaseUnits: 21_000_000 * coin, coinbaseMaturityBlocks: 100,
        dustLimitBaseUnits: 546, softDustLimitBaseUnits: nil,
        minRelayFeePerKilobyteBaseUnits: 1000, minTxFeeBaseUnits: 0)

    public static let all: [UTXOChainParameters] = [
        dogecoinMainnet, dogecoinTestnet, dogecoinRegtest, litecoinRegtest, bitcoinMainnet, bitcoinTestnet,
    ]

    /// The row for a CAIP-2 id, or nil when tok does not know the chain.
    public static func parameters(for chain: ChainId) -> UTXOChainParameters? {
        all.first { $0.chainId == chain }
    }

    /// The row with this name (e.g. "dogecoin-mainnet"), for configuration files.
    public static func parameters(named name: String) -> UTXOChainParameters? {
        all.first { $0.name == name }
    }
}
