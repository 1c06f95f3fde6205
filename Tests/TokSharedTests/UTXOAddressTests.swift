import XCTest
@testable import TokShared

/// Expected addresses were produced independently of tok:
/// - Dogecoin and Bitcoin: python-bitcoinlib 0.12.2 (PyPI) in a throwaway venv, with its
///   CoreMainParams subclassed to set BASE58_PREFIXES to each chain's version bytes;
///   `P2PKHBitcoinAddress.from_pubkey(CBitcoinSecret.from_secret_bytes(secret, compressed).pub)`,
///   `P2SHBitcoinAddress.from_redeemScript(CScript([OP_1, pub, OP_1, OP_CHECKMULTISIG]))`, and
///   `str(CBitcoinSecret...)` for WIF. Secrets: bytes 0x01...0x20, and the scalar 1.
/// - Litecoin regtest: a litecoind 0.21 regtest wallet: `getnewaddress "" legacy`,
///   `getaddressinfo` (scriptPubKey, pubkey), `dumpprivkey`, and `getnewaddress "" p2sh-segwit`.
final class UTXOAddressTests: XCTestCase {
    private func unhex(_ text: String) -> [UInt8] { Hex.decode(text)! }

    private let secret1to32 = try! PrivateKey(bytes: Array(1...32))
    private let secretOne = try! PrivateKey(bytes: [UInt8](repeating: 0, count: 31) + [1])

    private let doge = UTXOChains.dogecoinMainnet
    private let dogeTest = UTXOChains.dogecoinTestnet
    private let dogeReg = UTXOChains.dogecoinRegtest
    private let ltcReg = UTXOChains.litecoinRegtest
    private let btc = UTXOChains.bitcoinMainnet

    // MARK: Chain table

    func testChainIdsFollowTheGenesisHashes() {
        XCTAssertEqual(doge.chainId.description, "bip122:1a91e3dace36e2be3bf030a65679fe82")
        XCTAssertEqual(dogeTest.chainId.description, "bip122:bb0a78264637406b6360aad926284d54")
        XCTAssertEqual(dogeReg.chainId.description, "bip122:3d2160a3b5dc4a9d62e7e66a295f7031")
        XCTAssertEqual(ltcReg.chainId.description, "bip122:530827f38f93b43ed12af0b3ad25a288")
        XCTAssertEqual(btc.chainId.description, "bip122:000000000019d6689c085ae165831e93")
        XCTAssertEqual(UTXOChains.bitcoinTestnet.chainId.description, "bip122:000000000933ea01ad0ee984209779ba")
        XCTAssertEqual(doge.nativeAssetType.description, "bip122:1a91e3dace36e2be3bf030a65679fe82/slip44:3")
        for chain in UTXOChains.all {
            XCTAssertEqual(try ChainId(parsing: chain.chainId.description), chain.chainId)
            XCTAssertEqual(UTXOChains.parameters(for: chain.chainId), chain)
            XCTAssertEqual(UTXOChains.parameters(named: chain.name), chain)
            XCTAssertEqual(chain.coinDecimals, 8)
        }
        XCTAssertEqual(Set(UTXOChains.all.map(\.chainId)).count, UTXOChains.all.count, "chain ids are unique")
        XCTAssertNil(UTXOChains.parameters(for: try! ChainId(parsing: "bip122:00000000000000000000000000000000")))
        XCTAssertNil(UTXOChains.parameters(for: try! ChainId(parsing: "eip155:1")))
    }

    func testDogecoinPolicyValues() {
        XCTAssertEqual(doge.dustLimitBaseUnits, 100_000)  // 0.001 DOGE
        XCTAssertEqual(doge.softDustLimitBaseUnits, 1_000_000)  // 0.01 DOGE
        XCTAssertEqual(doge.minRelayFeePerKilobyteBaseUnits, 100_000)  // 0.001 DOGE/kB
        XCTAssertEqual(doge.minTxFeeBaseUnits, 1_000_000)  // 0.01 DOGE
        XCTAssertEqual(doge.maxMoneyBaseUnits, 1_000_000_000_000_000_000)
        XCTAssertEqual(doge.coinbaseMaturityBlocks, 240)
        XCTAssertEqual(dogeReg.coinbaseMaturityBlocks, 60)
        // Policy is configurable: operators may still run older 1.14 nodes at 1 DOGE/kB.
        var older = doge
        older.minRelayFeePerKilobyteBaseUnits = 100_000_000
        XCTAssertNotEqual(older, doge)
        XCTAssertEqual(older.chainId, doge.chainId)
    }

    // MARK: Base58

    func testBase58KnownValues() {
        XCTAssertEqual(Base58.encode([]), "")
        XCTAssertEqual(Base58.encode([0]), "1")
        XCTAssertEqual(Base58.encode([0, 0, 1]), "112")
        XCTAssertEqual(Base58.encode(Array("hello world".utf8)), "StV1DL6CwTryKyV")
        XCTAssertEqual(Base58.encode([0xff]), "5Q")
        XCTAssertEqual(Base58.decode("StV1DL6CwTryKyV"), Array("hello world".utf8))
        XCTAssertEqual(Base58.decode("112"), [0, 0, 1])
        XCTAssertEqual(Base58.decode("1"), [0])
        XCTAssertNil(Base58.decode(""))
        XCTAssertNil(Base58.decode("0OIl"))
        XCTAssertNil(Base58.decode("abc "))
        XCTAssertNil(Base58.decode(String(repeating: "z", count: Base58.maxTextLength + 1)))
    }

    func testBase58RoundTripsRandomBytes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let zeros = Int.random(in: 0...3, using: &generator)
            let bytes =
                [UInt8](repeating: 0, count: zeros)
                + (0..<Int.random(in: 0...40, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            let text = Base58.encode(bytes)
            XCTAssertEqual(Base58.decode(text) ?? [], bytes, text)
            XCTAssertEqual(try Base58.decodeCheck(Base58.encodeCheck(bytes + [1])).get(), bytes + [1])
        }
    }

    // MARK: Addresses

    func testDogecoinMainnetP2PKHAddresses() throws {
        let cases: [(PrivateKey, Bool, String, String)] = [
            (secret1to32, true, "DDCyH9UkeJ6Kv8Jgz3eNhqZeud196bkGTL", "587c9bfc87a837a056f716c2f9de891adbc46c90"),
            (secret1to32, false, "DPaANPzKtoSEyDFd8drqfeyQeShzPhq1rs", "ca2fdc39d49924fb0b3f343cc4a520c0abcf9b01"),
            (secretOne, true, "DFpN6QqFfUm3gKNaxN6tNcab1FArL9cZLE", "751e76e8199196d454941c45d1b3a323f1433bd6"),
            (secretOne, false, "DJRU7MLhcPwCTNRZ4e8gJzDebtG1H5M7pc", "91b24bf9f5288532960ac687abb035127b1d28a5"),
        ]
        for (key, compressed, text, hash) in cases {
            let address = UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: compressed))
            XCTAssertEqual(address.kind, .p2pkh)
            XCTAssertEqual(address.hash160, unhex(hash))
            XCTAssertEqual(address.encode(chain: doge), text)
            XCTAssertEqual(try UTXOAddress.parse(text, chain: doge), address)
            XCTAssertEqual(address.scriptPubKey, unhex("76a914" + hash + "88ac"))
            XCTAssertEqual(UTXOAddress.fromScript(address.scriptPubKey, chain: doge), address)
        }
        // Dogecoin's genesis output key, as a P2PKH address.
        let genesisKey = unhex(
            "040184710fa689ad5023690c80f3a49c8f13f8d45b8c857fbcbc8bc4a8e4d3eb4b10f4d4604fa08dce601aaf0f470216fe1b51850b4acf21b179c45070ac7b03a9"
        )
        XCTAssertEqual(
            UTXOAddress.p2pkh(publicKey: genesisKey).encode(chain: doge), "DQmCZQo3thCvTxkyAhPHfY7DVLqFtJ2ji6")
    }

    func testOtherNetworksEncodeTheSameHashWithTheirVersionBytes() throws {
        let address = UTXOAddress.p2pkh(publicKey: secret1to32.publicKey(compressed: true))
        XCTAssertEqual(address.encode(chain: dogeTest), "ncG31ADfaGZ3o6st1sHpxF9x9VPS6ZK5ao")
        XCTAssertEqual(address.encode(chain: dogeReg), "moaq2wd69udJAEbhy2dByzcNtUsYivsjpU")
        XCTAssertEqual(address.encode(chain: btc), "194sjtY7LtC3P886FTepA5Q42VGqrwTK86")
        XCTAssertEqual(
            UTXOAddress.p2pkh(publicKey: secretOne.publicKey(compressed: true)).encode(chain: btc),
            "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH")
        XCTAssertEqual(
            try UTXOAddress.parse("nhUXqN5cYNPvLLzk6Tn8ZPowqkeJP7Qws2", chain: dogeTest),
            UTXOAddress.p2pkh(publicKey: secretOne.publicKey(compressed: false)))
    }

    func testP2SHAddresses() throws {
        // 1-of-1 multisig of the compressed key 0x01...0x20: OP_1 <pub> OP_1 OP_CHECKMULTISIG.
        let redeemScript = [0x51, 33] + secret1to32.publicKey(compressed: true) + [0x51, 0xae]
        let hash = "2265b8a3f6f8c8e209a74c00aa3f755a8349b27f"
        XCTAssertEqual(Hashing.hash160(redeemScript), unhex(hash))
        let address = UTXOAddress(kind: .p2sh, hash160: unhex(hash))
        XCTAssertEqual(address.scriptPubKey, unhex("a914" + hash + "87"))
        XCTAssertEqual(address.encode(chain: doge), "9ua9VdQQ8QcwFWgyGncAPqwbwXKZaaEyta")
        XCTAssertEqual(address.encode(chain: dogeTest), "2MvP6pXGXfoFPYvx3XnZcmfJVTJ9hN2uTNY")
        XCTAssertEqual(address.encode(chain: btc), "34ptknLW4Lk3M9KVrewk9iKEEwwXVeiACs")
        XCTAssertEqual(try UTXOAddress.parse("9ua9VdQQ8QcwFWgyGncAPqwbwXKZaaEyta", chain: doge), address)
        XCTAssertEqual(try UTXOAddress.parse("2MvP6pXGXfoFPYvx3XnZcmfJVTJ9hN2uTNY", chain: dogeReg), address)
        XCTAssertEqual(UTXOAddress.fromScript(address.scriptPubKey, chain: doge), address)
    }

    func testLitecoinRegtestWalletAddresses() throws {
        // litecoind -regtest: getnewaddress "" legacy → getaddressinfo.
        let p2pkh = try UTXOAddress.parse("mgxHEjTDqJ1qyeZa6W2Um4s4DixhYHFty3", chain: ltcReg)
        XCTAssertEqual(p2pkh.kind, .p2pkh)
        XCTAssertEqual(p2pkh.scriptPubKey, unhex("76a9140fc25661bb98cb23009538dcd63fb6f0b9cdf01688ac"))
        XCTAssertEqual(
            UTXOAddress.p2pkh(publicKey: unhex("035426ea65695ad9515cc4ba1dbe8029209c4e693606a6baade2d301254f33c3a3")),
            p2pkh)
        // dumpprivkey of that address: a compressed-key WIF with Litecoin regtest's version 239.
        let wif = try WIF.decode("cTskeUvihoHnvse3HiBrZMiaACFdefZszRt2tXgL977AJ2EzJuqY", chain: ltcReg)
        XCTAssertTrue(wif.compressed)
        XCTAssertEqual(UTXOAddress.p2pkh(publicKey: wif.key.publicKey(compressed: true)), p2pkh)
        XCTAssertEqual(
            WIF.encode(wif.key, compressed: true, chain: ltcReg), "cTskeUvihoHnvse3HiBrZMiaACFdefZszRt2tXgL977AJ2EzJuqY"
        )
        // getnewaddress "" p2sh-segwit: a P2SH address with Litecoin's version 58 ("Q").
        let p2sh = try UTXOAddress.parse("Qfj5LPoLJjoBB1JqYxQ8ZA2BhMNwqEtmci", chain: ltcReg)
        XCTAssertEqual(p2sh.kind, .p2sh)
        XCTAssertEqual(p2sh.scriptPubKey, unhex("a914d1c1a9f433f2a63ca5f1c8b43245a176a8d93c2387"))
        XCTAssertEqual(p2sh.encode(chain: ltcReg), "Qfj5LPoLJjoBB1JqYxQ8ZA2BhMNwqEtmci")
    }

    func testWIFMatchesPythonBitcoinlib() throws {
        XCTAssertEqual(
            WIF.encode(secret1to32, compressed: true, chain: doge),
            "QNeay4gZVjU5Rkjxa87wZbv8o9UjvdixAeC6oabFL8UKNdKPVdsV")
        XCTAssertEqual(
            WIF.encode(secret1to32, compressed: false, chain: doge),
            "6J94cp45C3NYN1r9xzM9jjMCHM3fGn2MChbgqARXSBJWzVJvgRZ")
        XCTAssertEqual(
            WIF.encode(secretOne, compressed: true, chain: btc), "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn")
        let decoded = try WIF.decode("6J94cp45C3NYN1r9xzM9jjMCHM3fGn2MChbgqARXSBJWzVJvgRZ", chain: doge)
        XCTAssertFalse(decoded.compressed)
        XCTAssertEqual(decoded.key.secretBytes, Array(1...32))
        XCTAssertThrowsError(try WIF.decode("QNeay4gZVjU5Rkjxa87wZbv8o9UjvdixAeC6oabFL8UKNdKPVdsV", chain: ltcReg)) {
            error in
            XCTAssertEqual((error as? TokError)?.code, .badKey)
            XCTAssertFalse(
                (error as? TokError)?.message.contains("QNeay") ?? true, "a WIF key is a secret: never echo it")
        }
    }

    // MARK: Refusals

    private func assertRefused(
        _ text: String, chain: UTXOChainParameters, code: ErrorCode,
        containing fragments: [String] = [], file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try UTXOAddress.parse(text, chain: chain), file: file, line: line) { error in
            guard let error = error as? TokError else {
                return XCTFail("not a TokError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.code, code, error.message, file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(
                    error.message.contains(fragment), "\(error.message) lacks \(fragment)", file: file, line: line)
            }
        }
    }

    func testBadChecksum() {
        // Last character changed: base58 still, checksum no longer matches.
        assertRefused("DDCyH9UkeJ6Kv8Jgz3eNhqZeud196bkGTM", chain: doge, code: .badChecksum)
        // Two characters swapped.
        assertRefused("DDCyH9UkeJ6Kv8Jgz3eNhqZeud196bkTGL", chain: doge, code: .badChecksum)
    }

    func testAddressOfAnotherChainNamesTheVersionBytes() {
        // A Dogecoin mainnet address offered as a Litecoin regtest one.
        assertRefused(
            "DDCyH9UkeJ6Kv8Jgz3eNhqZeud196bkGTL", chain: ltcReg, code: .wrongChainAddress,
            containing: ["version byte 30", "dogecoin-mainnet", "111", "58"])
        // A Bitcoin address offered as a Dogecoin one.
        assertRefused(
            "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH", chain: doge, code: .wrongChainAddress,
            containing: ["version byte 0", "bitcoin-mainnet", "30", "22"])
        // A Litecoin P2SH address ("Q", 58) offered to Dogecoin regtest, which uses 196 for P2SH.
        assertRefused(
            "Qfj5LPoLJjoBB1JqYxQ8ZA2BhMNwqEtmci", chain: dogeReg, code: .wrongChainAddress,
            containing: ["version byte 58", "litecoin-regtest"])
    }

    func testMalformedAddresses() {
        assertRefused("", chain: doge, code: .badAccount)
        assertRefused("D0CyH9UkeJ6Kv8Jgz3eNhqZeud196bkGTL", chain: doge, code: .badAccount)  // '0' is not base58
        assertRefused(" DDCyH9UkeJ6Kv8Jgz3eNhqZeud196bkGTL", chain: doge, code: .badAccount)
        assertRefused(String(repeating: "D", count: 36), chain: doge, code: .badAccount)
        assertRefused("1111", chain: doge, code: .badAccount)
        // Valid Base58Check with a 22-byte payload: right checksum, wrong length.
        assertRefused(
            Base58.encodeCheck([30] + [UInt8](repeating: 7, count: 21)), chain: doge, code: .badAccount,
            containing: ["22 bytes"])
    }

    func testFromScriptRecognisesOnlyExactTemplates() {
        let hash = [UInt8](repeating: 0xab, count: 20)
        let p2pkh = [0x76, 0xa9, 0x14] + hash + [0x88, 0xac]
        XCTAssertEqual(UTXOAddress.fromScript(p2pkh, chain: doge), UTXOAddress(kind: .p2pkh, hash160: hash))
        XCTAssertNil(UTXOAddress.fromScript(Array(p2pkh.dropLast()), chain: doge))
        XCTAssertNil(UTXOAddress.fromScript(p2pkh + [0x87], chain: doge))
        XCTAssertNil(UTXOAddress.fromScript([0x76, 0xa9, 0x13] + hash.dropLast() + [0x88, 0xac], chain: doge))
        XCTAssertNil(UTXOAddress.fromScript([0x6a, 0x04, 1, 2, 3, 4], chain: doge))  // OP_RETURN
        // P2PK
        XCTAssertNil(UTXOAddress.fromScript([0x21] + secretOne.publicKey(compressed: true) + [0xac], chain: doge))
        XCTAssertNil(UTXOAddress.fromScript([0x00, 0x14] + hash, chain: doge))  // P2WPKH
        XCTAssertNil(UTXOAddress.fromScript([], chain: doge))
        XCTAssertEqual(
            UTXOAddress.fromScript([0xa9, 0x14] + hash + [0x87], chain: doge), UTXOAddress(kind: .p2sh, hash160: hash))
    }
}
