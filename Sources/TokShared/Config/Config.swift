#if canImport(Glibc)
import Glibc
#endif
import TOMLKit

/// The operator's configuration (see examples/tok.toml for every key).
public struct TokConfig: Sendable {
    public var file: String
    public var engine: EngineSettings
    /// Resolved only by the stages that need the secret: `attestationSettings()`.
    public var attestationSource: AttestationSource
    public var database: DatabaseSettings
    public var networks: [NetworkConfig]
    public var tokens: [TokenConfig]
    /// Key paths of secrets written into the config itself (attestation.secret,
    /// networks[i].rpc_password): `load` then requires an owner-only file.
    public var inlineSecretKeys: [String] = []

    public struct EngineSettings: Sendable {
        public var maxLineBytes: Int
        public var batchSize: Int
        /// Names this deployment in every payout authorisation its users sign
        /// (nil: each source network's receiver names it).
        public var deployment: String? = nil
    }

    public struct AttestationSettings: Sendable {
        public var keyId: String
        /// Never logged or printed.
        public var secret: [UInt8]
    }

    public struct DatabaseSettings: Sendable {
        /// How long a second tok-apply waits for the writer lock before giving up.
        public var lockTimeoutMilliseconds: Int
        /// "full" fsyncs every commit (the default: a credited deposit survives a power cut);
        /// "normal" may lose the last commits on power loss but never corrupts.
        /// On PostgreSQL: `synchronous_commit` on or off.
        public var synchronous: String
        /// The database when no --db is given: a SQLite path or a
        /// `postgresql://` URI (without its password, preferably).
        public var url: String? = nil
        /// The PostgreSQL password, from the environment variable `password_env`
        /// names. Never logged or printed. Without it libpq looks in
        /// PGPASSWORD, then PGPASSFILE or ~/.pgpass.
        public var password: String? = nil
        /// password_env names a variable that is not set: an error when a
        /// PostgreSQL connection is opened, nothing for tools that open none
        /// (tok-validate, tok-submit), as for rpc_password_env.
        public var passwordProblem: ConfigError? = nil
    }

    public static let minimumSecretBytes = 32

    /// The attestation secret and key id (nil when none is configured); read
    /// from its variable or file now, by the stages that attest or check.
    public func attestationSettings() throws(ConfigError) -> AttestationSettings? {
        try attestationSource.resolve()
    }

    /// For the stages that talk to chains (tok-verify, tok-submit): every
    /// network's RPC password must be at hand. The others never need it.
    public func requireChainCredentials() throws(ConfigError) {
        if let problem = networks.lazy.compactMap(\.rpcPasswordProblem).first { throw problem }
    }

    /// The deployment a payout from `source` is authorised for: the configured
    /// name, else the source network's receiver (the account users paid).
    public func deployment(source: NetworkConfig) -> String {
        engine.deployment ?? source.chainText + ":" + source.receiver
    }

    // MARK: Lookups

    /// A network by alias or by CAIP-2 id.
    public func network(named name: String) -> NetworkConfig? {
        networks.first { $0.alias == name || $0.chainText == name }
    }

    public func network(chain: ChainId) -> NetworkConfig? {
        networks.first { $0.chain == chain }
    }

    public func token(alias: String) -> TokenConfig? {
        tokens.first { $0.alias == alias }
    }

    /// Resolves what a request calls a token — alias, symbol, or CAIP-19 asset
    /// type — to the asset mapping on the given network.
    public func assetMapping(token name: String, on network: NetworkConfig) throws(TokError) -> AssetMapping {
        if UTF8Scan.contains(UInt8(ascii: "/"), in: name) {
            let asset: AssetType
            do { asset = try AssetType(parsing: name).canonical() } catch { throw error }
            guard asset.chain == network.chain else {
                throw TokError(.accountNetworkMismatch, "asset \(name) is on \(asset.chain), not on \(network.chain)")
            }
            guard let mapping = network.assets.first(where: { $0.asset == asset }) else {
                throw TokError(.unknownToken, "asset \(asset) is not configured on network \(network.alias)")
            }
            return mapping
        }
        guard let token = tokens.first(where: { $0.alias == name }) ?? tokens.first(where: { $0.symbol == name }) else {
            if name.utf8.contains(UInt8(ascii: ":")) {
                // TokEngine names a token on a network by the asset part of its
                // CAIP-19 id ("erc20:0x…", "slip44:60"): the chain is the network's.
                return try assetMapping(token: network.chainText + "/" + name, on: network)
            }
            throw TokError(.unknownToken, "token \(name) is not configured")
        }
        guard let mapping = network.assets.first(where: { $0.token == token.alias }) else {
            throw TokError(.assetNotConfigured, "token \(token.alias) is not mapped on network \(network.alias)")
        }
        return mapping
    }
}

public struct TokenConfig: Sendable, Equatable {
    public var alias: String
    public var symbol: String
    public var name: String
    /// The ledger's unit for this token: balances count 10^-decimals of a token.
    /// Every network's amounts convert into it exactly (mapping decimals ≤ this).
    public var decimals: Int
}

/// One asset on one network: how it is identified on chain and what the operator allows.
/// Immutable and shared by reference: every record that names it points at it.
public final class AssetMapping: Sendable, Equatable {
    public let token: String
    public let asset: AssetType
    public let decimals: Int
    public let depositEnabled: Bool
    public let payoutEnabled: Bool
    /// The account payouts of this asset are paid from; defaults to the network's operator address.
    public let treasury: String?
    /// `asset.description`, computed once: it is written into every record.
    public let assetText: String
    /// Payout fees, in the token's ledger units: max(fixed + quantity × bps / 10000, minimum).
    public let feeFixed: UInt256
    public let feeBasisPoints: UInt64
    public let feeMinimum: UInt256
    /// Charged when a payout fails on chain (never more than the fee itself).
    public let failureFee: UInt256
    /// The smallest payout accepted, in ledger units.
    public let minimumPayout: UInt256

    init(
        token: String, asset: AssetType, decimals: Int, depositEnabled: Bool, payoutEnabled: Bool, treasury: String?,
        feeFixed: UInt256 = .zero, feeBasisPoints: UInt64 = 0, feeMinimum: UInt256 = .zero, failureFee: UInt256 = .zero,
        minimumPayout: UInt256 = .zero
    ) {
        self.feeFixed = feeFixed
        self.feeBasisPoints = feeBasisPoints
        self.feeMinimum = feeMinimum
        self.failureFee = failureFee
        self.minimumPayout = minimumPayout
        self.token = token
        self.asset = asset
        self.decimals = decimals
        self.depositEnabled = depositEnabled
        self.payoutEnabled = payoutEnabled
        self.treasury = treasury
        self.assetText = asset.description
    }

    /// The native coin of its chain (slip44), as opposed to a contract token.
    public var isNative: Bool { asset.assetNamespace == "slip44" }

    /// The payout fee for `quantity` (ledger units); nil on overflow.
    public func payoutFee(quantity: UInt256) -> UInt256? {
        guard let variable = feeFixed.adding(quantity.basisPoints(feeBasisPoints)) else { return nil }
        return max(variable, feeMinimum)
    }

    public static func == (left: AssetMapping, right: AssetMapping) -> Bool {
        left === right
    }
}

/// A chain the operator connects to. Immutable and shared by reference.
public final class NetworkConfig: Sendable {
    public static let defaultMaxReorgDepth = 100

    public let alias: String
    public let chain: ChainId
    /// `chain.description`, computed once: it is written into every record.
    public let chainText: String
    public let rpcURL: String
    public let rpcUser: String?
    public let rpcPassword: String?
    /// rpc_password_env names a variable that is not set: an error for the
    /// stages that talk to the chain, nothing for the others.
    public let rpcPasswordProblem: ConfigError?
    /// Canonical address deposits must pay to.
    public let receiver: String
    /// Canonical address payouts are signed by.
    public let operatorAddress: String?
    /// The operator's security level: blocks on top of (and including) the deposit's block.
    public let confirmations: Int
    public let rpcTimeoutMilliseconds: Int
    public let rpcConcurrency: Int
    public let rpcRetries: Int
    public let rpcBatchSize: Int
    public let assets: [AssetMapping]
    public let family: ChainFamily
    /// Where the operator's signing key comes from (tok-verify only): a file of
    /// mode 0600 holding the hex key, or an environment variable.
    public let operatorKeyFile: String?
    public let operatorKeyEnv: String?
    /// What only the network's chain family reads (EVMNetworkSettings, UTXOPolicy).
    public let familySettings: any NetworkFamilySettings
    /// tok-follow: the first block to take on a ledger that has taken none of
    /// this network's (required to follow it: never a silent "tip minus N").
    public let followStartHeight: Int64?
    /// tok-follow stops, instead of guessing, at a reorganisation deeper than this.
    public let maxReorgDepth: Int
    /// The trimmer: an off-chain record nothing anchored is dropped this many
    /// blocks after its expiry height (it can no longer bind before that).
    public let recordRetentionBlocks: Int
    /// The market: how many blocks a buyer has to pay a match.
    public let paymentWindowBlocks: Int

    /// EVM networks: the payout fee caps (the defaults elsewhere).
    public var evmSettings: EVMNetworkSettings { familySettings as? EVMNetworkSettings ?? EVMNetworkSettings() }
    public var maxFeePerGasWei: UInt256 { evmSettings.maxFeePerGasWei }
    public var priorityFeePerGasWei: UInt256 { evmSettings.priorityFeePerGasWei }
    public var gasLimitCap: UInt64 { evmSettings.gasLimitCap }
    /// UTXO chains: the operator's relay policy where it differs from the
    /// chain table's (nodes change it: -minrelaytxfee, -dustlimit, Dogecoin's
    /// 1.14.5 fee cut), and the most one payout may pay in network fees.
    public var utxoPolicy: UTXOPolicy { familySettings as? UTXOPolicy ?? UTXOPolicy() }

    init(
        alias: String, chain: ChainId, family: ChainFamily, rpcURL: String, rpcUser: String?, rpcPassword: String?,
        receiver: String, operatorAddress: String?, confirmations: Int, rpcTimeoutMilliseconds: Int,
        rpcConcurrency: Int, rpcRetries: Int, rpcBatchSize: Int, assets: [AssetMapping],
        operatorKeyFile: String? = nil, operatorKeyEnv: String? = nil, familySettings: any NetworkFamilySettings,
        followStartHeight: Int64? = nil, maxReorgDepth: Int = NetworkConfig.defaultMaxReorgDepth,
        recordRetentionBlocks: Int = 1_440, paymentWindowBlocks: Int = 20, rpcPasswordProblem: ConfigError? = nil
    ) {
        self.rpcPasswordProblem = rpcPasswordProblem
        self.familySettings = familySettings
        self.paymentWindowBlocks = paymentWindowBlocks
        self.recordRetentionBlocks = recordRetentionBlocks
        self.followStartHeight = followStartHeight
        self.maxReorgDepth = maxReorgDepth
        self.operatorKeyFile = operatorKeyFile
        self.operatorKeyEnv = operatorKeyEnv
        self.alias = alias
        self.chain = chain
        self.chainText = chain.description
        self.family = family
        self.rpcURL = rpcURL
        self.rpcUser = rpcUser
        self.rpcPassword = rpcPassword
        self.receiver = receiver
        self.operatorAddress = operatorAddress
        self.confirmations = confirmations
        self.rpcTimeoutMilliseconds = rpcTimeoutMilliseconds
        self.rpcConcurrency = rpcConcurrency
        self.rpcRetries = rpcRetries
        self.rpcBatchSize = rpcBatchSize
        self.assets = assets
    }
}

extension TokConfig {
    /// Loads and checks a config file. Any mistake is a ConfigError naming the key.
    public static func load(
        path: String, environment: [String: String] = TokConfig.processEnvironment()
    ) throws -> TokConfig {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw ConfigError(file: path, key: "-", problem: "cannot read the file: \(error)")
        }
        let config = try parse(text: text, file: path, environment: environment)
        // A secret written into the config is as exposed as the file itself.
        if let key = config.inlineSecretKeys.first, let problem = ownerOnlyProblem(path) {
            throw ConfigError(
                file: path, key: key,
                problem:
                    "the config holds this secret inline, and \(problem); or move it to an environment variable or a file of its own"
            )
        }
        return config
    }

    /// One parser per section, in file order; `finish` refuses any key nobody read.
    public static func parse(text: String, file: String, environment: [String: String]) throws -> TokConfig {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let parseError as TOMLParseError {
            throw ConfigError(file: file, key: "-", problem: "not valid TOML: \(parseError.debugDescription)")
        }
        var reader = TOMLReader(file: file, path: "", table: root)
        let engine = try parseEngine(&reader)
        let attestation = try parseAttestation(&reader, file: file, environment: environment)
        let database = try parseDatabase(&reader, environment: environment)
        var tokens = try parseTokens(&reader)
        let networks = try parseNetworks(&reader, tokens: tokens, environment: environment)
        try reader.finish()
        try resolveLedgerDecimals(&tokens, networks: networks, file: file)
        var inlineSecretKeys: [String] = []
        if root["attestation"]?.table?["secret"] != nil { inlineSecretKeys.append("attestation.secret") }
        for (index, network) in (root["networks"]?.array ?? TOMLArray()).enumerated()
        where network.table?["rpc_password"] != nil {
            inlineSecretKeys.append("networks[\(index)].rpc_password")
        }
        return TokConfig(
            file: file, engine: engine, attestationSource: attestation, database: database,
            networks: networks, tokens: tokens, inlineSecretKeys: inlineSecretKeys)
    }

    private static func parseEngine(_ reader: inout TOMLReader) throws -> EngineSettings {
        var engine = EngineSettings(maxLineBytes: LineReader.defaultMaxLineBytes, batchSize: 512)
        if var section = try reader.table("engine") {
            engine.maxLineBytes = try section.int(
                "max_line_bytes", default: engine.maxLineBytes, range: 1024...(64 << 20))
            engine.batchSize = try section.int("batch_size", default: engine.batchSize, range: 1...100_000)
            if let deployment = try section.string("deployment") {
                // It is a line of the text users sign: one line, no surprises.
                guard (1...128).contains(deployment.utf8.count),
                    deployment.utf8.allSatisfy({ byte in
                        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                            || (byte >= 0x61 && byte <= 0x7A)
                            || byte == 0x2E || byte == 0x5F || byte == 0x3A || byte == 0x2D
                    })
                else {
                    throw section.error("deployment", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
                }
                engine.deployment = deployment
            }
            try section.finish()
        }
        return engine
    }

    /// `[attestation]`: one of secret, secret_env, secret_file; or the environment alone.
    /// Only the shape is checked here; the secret is read when a stage asks for it.
    private static func parseAttestation(
        _ reader: inout TOMLReader, file: String,
        environment: [String: String]
    ) throws -> AttestationSource {
        var sectionKeyId: String?
        var origin = AttestationSource.Origin.processDefault
        if var section = try reader.table("attestation") {
            sectionKeyId = try section.string("key_id")
            let inline = try section.string("secret")
            let fromEnvironment = try section.string("secret_env")
            let fromFile = try section.string("secret_file")
            try section.finish()
            guard [inline, fromEnvironment, fromFile].compactMap({ $0 }).count <= 1 else {
                throw section.error("secret", "give only one of secret, secret_env, secret_file")
            }
            if let inline { origin = .inline(inline) }
            if let fromEnvironment { origin = .variable(fromEnvironment) }
            if let fromFile { origin = .file(fromFile) }
        }
        return AttestationSource(configFile: file, sectionKeyId: sectionKeyId, origin: origin, environment: environment)
    }

    private static func parseDatabase(
        _ reader: inout TOMLReader, environment: [String: String]
    ) throws -> DatabaseSettings {
        var database = DatabaseSettings(lockTimeoutMilliseconds: 10_000, synchronous: "full")
        if var section = try reader.table("database") {
            database.lockTimeoutMilliseconds = try section.int(
                "lock_timeout_milliseconds",
                default: database.lockTimeoutMilliseconds,
                range: 0...3_600_000)
            database.synchronous = try section.string("synchronous") ?? database.synchronous
            guard ["full", "normal"].contains(database.synchronous) else {
                throw section.error("synchronous", "must be \"full\" or \"normal\"")
            }
            database.url = try section.string("url")
            if let url = database.url, url.isEmpty { throw section.error("url", "must not be empty") }
            if let url = database.url, DatabaseTarget(url).hasPasswordInURI {
                throw section.error(
                    "url",
                    "must not carry a password: name an environment variable in password_env, or use a .pgpass file")
            }
            if let variable = try section.string("password_env") {
                if let value = environment[variable], !value.isEmpty {
                    database.password = value
                } else {
                    database.passwordProblem = section.error(
                        "password_env", "environment variable \(variable) is not set")
                }
            }
            try section.finish()
        }
        return database
    }

    /// `[[tokens]]`; decimals -1 means "not given" until `resolveLedgerDecimals`.
    private static func parseTokens(_ reader: inout TOMLReader) throws -> [TokenConfig] {
        var tokens: [TokenConfig] = []
        for var section in try reader.tables("tokens") {
            let token = TokenConfig(
                alias: try section.requiredString("alias"),
                symbol: try section.string("symbol") ?? "",
                name: try section.string("name") ?? "",
                decimals: section.table["decimals"] == nil ? -1 : try section.int("decimals", default: 0, range: 0...77)
            )
            try section.finish()
            guard token.alias.utf8.count <= 32,
                token.alias.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
            else {
                throw section.error("alias", "must be 1-32 letters, digits, '-', '_' or '.'")
            }
            guard !tokens.contains(where: { $0.alias == token.alias }) else {
                throw section.error("alias", "token \(token.alias) is defined twice")
            }
            // Requests name tokens by alias or symbol: one name, one token.
            let symbol = token.symbol.isEmpty ? token.alias : token.symbol
            if let other = tokens.first(where: { $0.symbol == token.alias }) {
                throw section.error("alias", "\(token.alias) is already the symbol of token \(other.alias)")
            }
            if let other = tokens.first(where: { $0.alias == symbol || $0.symbol == symbol }) {
                throw section.error("symbol", "\(symbol) already names token \(other.alias)")
            }
            tokens.append(TokenConfig(alias: token.alias, symbol: symbol, name: token.name, decimals: token.decimals))
        }
        return tokens
    }

    private static func parseNetworks(
        _ reader: inout TOMLReader, tokens: [TokenConfig],
        environment: [String: String]
    ) throws -> [NetworkConfig] {
        var networks: [NetworkConfig] = []
        for var section in try reader.tables("networks") {
            let network = try parseNetwork(&section, tokens: tokens, environment: environment)
            guard !networks.contains(where: { $0.alias == network.alias || $0.chain == network.chain }) else {
                throw section.error("alias", "network \(network.alias) (\(network.chain)) is defined twice")
            }
            networks.append(network)
        }
        return networks
    }

    /// Ledger units: a token's decimals default to its mappings' common decimals;
    /// where mappings differ it must be given. An asset may be finer than the ledger
    /// (an 18-decimal ERC-20 wrapping an 8-decimal coin): its amounts must then be
    /// whole ledger units, and anything finer is refused (amount_not_exact) before
    /// it is credited or locked.
    private static func resolveLedgerDecimals(
        _ tokens: inout [TokenConfig], networks: [NetworkConfig], file: String
    ) throws {
        for index in tokens.indices where tokens[index].decimals < 0 {
            let mapped = networks.flatMap { network in network.assets.filter { $0.token == tokens[index].alias } }
            let distinct = Set(mapped.map(\.decimals))
            guard distinct.count <= 1 else {
                throw ConfigError(
                    file: file, key: "tokens[\(index)].decimals",
                    problem:
                        "token \(tokens[index].alias) has different decimals on different networks; set its ledger decimals"
                )
            }
            tokens[index].decimals = distinct.first ?? 0
        }
    }

    private static func parseNetwork(
        _ section: inout TOMLReader, tokens: [TokenConfig],
        environment: [String: String]
    ) throws -> NetworkConfig {
        let alias = try section.requiredString("alias")
        // Requests name networks by alias or CAIP-2 id; an alias must never look like the latter.
        guard alias.utf8.count <= 32,
            alias.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else {
            throw section.error("alias", "must be 1-32 letters, digits, '-', '_' or '.'")
        }
        let chainText = try section.requiredString("chain")
        let chain: ChainId
        do { chain = try ChainId(parsing: chainText) } catch {
            throw section.error("chain", "\(chainText) is not a CAIP-2 chain id: \(error.message)")
        }
        guard let family = ChainFamilies.family(for: chain.namespace) else {
            throw section.error("chain", "no chain family handles namespace \(chain.namespace)")
        }
        let rpcURL = try section.requiredString("rpc_url")
        guard rpcURL.hasPrefix("http://") || rpcURL.hasPrefix("https://") else {
            throw section.error("rpc_url", "must be an http:// or https:// URL")
        }
        let rpcUser = try section.string("rpc_user")
        var rpcPassword = try section.string("rpc_password")
        var rpcPasswordProblem: ConfigError?
        if let variable = try section.string("rpc_password_env") {
            guard rpcPassword == nil else {
                throw section.error("rpc_password_env", "give rpc_password or rpc_password_env, not both")
            }
            // Only the stages that talk to the chain need it (requireChainCredentials).
            if let value = environment[variable] {
                rpcPassword = value
            } else {
                rpcPasswordProblem = section.error("rpc_password_env", "environment variable \(variable) is not set")
            }
        }
        func address(_ key: String, required: Bool) throws -> String? {
            guard let text = required ? try section.requiredString(key) : try section.string(key) else { return nil }
            do { return try family.canonicalAddress(text, chain: chain) } catch {
                throw section.error(key, "\(text) is not a valid \(chain.namespace) address: \(error.message)")
            }
        }
        let receiver = try address("receiver", required: true)!
        let operatorAddress = try address("operator", required: false)
        let confirmations = try section.requiredInt("confirmations", range: 1...10_000)
        let timeout = try section.int("rpc_timeout_milliseconds", default: 10_000, range: 100...600_000)
        let concurrency = try section.int("rpc_concurrency", default: 4, range: 1...64)
        let retries = try section.int("rpc_retries", default: 5, range: 0...100)
        let batchSize = try section.int("rpc_batch_size", default: 50, range: 1...1_000)
        let followStart =
            section.table["follow_start_height"] == nil
            ? nil : Int64(try section.int("follow_start_height", default: 0, range: 0...Int(Int32.max)))
        let maxReorgDepth = try section.int(
            "max_reorg_depth", default: NetworkConfig.defaultMaxReorgDepth, range: 1...10_000)
        let recordRetention = try section.int("record_retention_blocks", default: 1_440, range: 0...10_000_000)
        let paymentWindow = try section.int("payment_window_blocks", default: 20, range: 1...10_000)
        let operatorKeyFile = try section.string("operator_key_file")
        let operatorKeyEnv = try section.string("operator_key_env")
        if operatorKeyFile != nil && operatorKeyEnv != nil {
            throw section.error("operator_key_env", "give operator_key_file or operator_key_env, not both")
        }
        let familySettings = try family.parseSettings(
            &section,
            network: NetworkIdentity(
                alias: alias, chain: chain, receiver: receiver, operatorAddress: operatorAddress))
        // Another family's key here is a mistake worth naming precisely.
        for other in ChainFamilies.all where other.namespace != family.namespace {
            for key in other.settingKeys where section.table[key] != nil {
                throw section.error(
                    key, "\(key) is for \(other.namespace) networks, and this one is \(chain.namespace)")
            }
        }

        let assets = try parseAssets(&section, tokens: tokens, network: alias, chain: chain, family: family)
        try section.finish()
        return NetworkConfig(
            alias: alias, chain: chain, family: family, rpcURL: rpcURL, rpcUser: rpcUser, rpcPassword: rpcPassword,
            receiver: receiver, operatorAddress: operatorAddress, confirmations: confirmations,
            rpcTimeoutMilliseconds: timeout, rpcConcurrency: concurrency, rpcRetries: retries,
            rpcBatchSize: batchSize, assets: assets, operatorKeyFile: operatorKeyFile,
            operatorKeyEnv: operatorKeyEnv, familySettings: familySettings, followStartHeight: followStart,
            maxReorgDepth: maxReorgDepth, recordRetentionBlocks: recordRetention,
            paymentWindowBlocks: paymentWindow, rpcPasswordProblem: rpcPasswordProblem)
    }

    /// `[[networks.assets]]` of one network.
    private static func parseAssets(
        _ section: inout TOMLReader, tokens: [TokenConfig], network: String, chain: ChainId,
        family: ChainFamily
    ) throws -> [AssetMapping] {
        var assets: [AssetMapping] = []
        for var assetSection in try section.tables("assets") {
            let tokenAlias = try assetSection.requiredString("token")
            guard tokens.contains(where: { $0.alias == tokenAlias }) else {
                throw assetSection.error("token", "token \(tokenAlias) is not defined in [[tokens]]")
            }
            let assetText = try assetSection.requiredString("asset")
            let asset: AssetType
            do { asset = try AssetType(parsing: assetText).canonical() } catch {
                throw assetSection.error("asset", "\(assetText) is not a CAIP-19 asset type: \(error.message)")
            }
            guard asset.chain == chain else {
                throw assetSection.error("asset", "\(assetText) is on \(asset.chain), not on this network's \(chain)")
            }
            let decimals = try assetSection.requiredInt("decimals", range: 0...77)
            let deposit = try assetSection.bool("deposit", default: true)
            let payout = try assetSection.bool("payout", default: false)
            var treasury: String?
            if let text = try assetSection.string("treasury") {
                do { treasury = try family.canonicalAddress(text, chain: chain) } catch {
                    throw assetSection.error("treasury", "\(text) is not a valid address: \(error.message)")
                }
            }
            let feeFixed = try assetSection.amount("fee_fixed", default: .zero)
            let feeBasisPoints = try assetSection.int("fee_basis_points", default: 0, range: 0...10_000)
            let feeMinimum = try assetSection.amount("fee_minimum", default: .zero)
            let failureFee = try assetSection.amount("failure_fee", default: .zero)
            let minimumPayout = try assetSection.amount("minimum_payout", default: .zero)
            try assetSection.finish()
            guard !assets.contains(where: { $0.token == tokenAlias || $0.asset == asset }) else {
                throw assetSection.error("token", "token \(tokenAlias) or asset \(asset) is mapped twice on \(network)")
            }
            do { try family.checkAssetSupported(asset) } catch {
                throw assetSection.error("asset", error.message)
            }
            assets.append(
                AssetMapping(
                    token: tokenAlias, asset: asset, decimals: decimals, depositEnabled: deposit,
                    payoutEnabled: payout, treasury: treasury, feeFixed: feeFixed,
                    feeBasisPoints: UInt64(feeBasisPoints), feeMinimum: feeMinimum,
                    failureFee: failureFee, minimumPayout: minimumPayout))
        }
        return assets
    }

    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }
}

/// Why a file holding a secret must not be used, or nil when only its owner
/// can read or write it (mode 0600 or stricter). Symbolic links are followed:
/// what matters is who can read the secret itself.
public func ownerOnlyProblem(_ path: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0 else { return "cannot stat \(path): \(String(cString: strerror(errno)))" }
    guard info.st_mode & 0o077 == 0 else {
        return
            "\(path) has mode \(String(info.st_mode & 0o777, radix: 8)), open to group or others; it must be 0600 (chmod 600 \(path))"
    }
    return nil
}

/// Reads a whole (small) text file: configs and secrets.
public func readTextFile(_ path: String) throws -> String {
    guard let handle = fopen(path, "rb") else {
        throw POSIXFailure(operation: "open \(path)", code: errno)
    }
    defer { fclose(handle) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = fread(&chunk, 1, chunk.count, handle)
        if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
        if count < chunk.count {
            if ferror(handle) != 0 { throw POSIXFailure(operation: "read \(path)", code: errno) }
            break
        }
        // A config or key file is small; refuse anything absurd rather than fill memory.
        guard bytes.count <= 16 << 20 else { throw POSIXFailure(operation: "read \(path) (over 16 MiB)", code: EFBIG) }
    }
    return String(decoding: bytes, as: UTF8.self)
}

public struct POSIXFailure: Error, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    public var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}

/// A bip122 network's relay-policy overrides (base units); nil keeps the chain table's value.
public struct UTXOPolicy: NetworkFamilySettings, Equatable {
    public var feePerKilobyte: UInt64?
    public var minTxFee: UInt64?
    public var dustLimit: UInt64?
    public var softDustLimit: UInt64?
    /// Payouts whose network fee would exceed this are refused (network_fee_too_high).
    public var maxNetworkFee: UInt64?

    public init(
        feePerKilobyte: UInt64? = nil, minTxFee: UInt64? = nil, dustLimit: UInt64? = nil,
        softDustLimit: UInt64? = nil, maxNetworkFee: UInt64? = nil
    ) {
        self.feePerKilobyte = feePerKilobyte
        self.minTxFee = minTxFee
        self.dustLimit = dustLimit
        self.softDustLimit = softDustLimit
        self.maxNetworkFee = maxNetworkFee
    }

    /// The chain table's row with these overrides applied.
    public func applied(to row: UTXOChainParameters) -> UTXOChainParameters {
        var parameters = row
        if let feePerKilobyte { parameters.minRelayFeePerKilobyteBaseUnits = feePerKilobyte }
        if let minTxFee { parameters.minTxFeeBaseUnits = minTxFee }
        if let dustLimit { parameters.dustLimitBaseUnits = dustLimit }
        if let softDustLimit { parameters.softDustLimitBaseUnits = softDustLimit == 0 ? nil : softDustLimit }
        return parameters
    }
}
