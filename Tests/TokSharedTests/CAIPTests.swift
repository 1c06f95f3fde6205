import XCTest
@testable import TokShared

final class CAIPTests: XCTestCase {
    // MARK: CAIP-2

    func testChainIdAcceptsSpecExamples() throws {
        let examples = [
            "eip155:1", "eip155:131277322940537", "bip122:000000000019d6689c085ae165831e93",
            "bip122:1a91e3dace36e2be3bf030a65679fe82", "cosmos:cosmoshub-3", "cosmos:Binance-Chain-Tigris",
            "lip9:9ee11e9df416b18b", "chainstd:8c3444cf8970a9e41a706fab93e7a6c4", "abc:_-aZ09",
            "a-b:" + String(repeating: "x", count: 32),
        ]
        for text in examples {
            let chain = try ChainId(parsing: text)
            XCTAssertEqual(chain.description, text)
        }
        let chain = try ChainId(parsing: "eip155:137")
        XCTAssertEqual(chain.namespace, "eip155")
        XCTAssertEqual(chain.reference, "137")
        XCTAssertEqual(try ChainId(parsing: "[eip155:1]".dropFirst().dropLast()), try ChainId(parsing: "eip155:1"))
    }

    func testChainIdRejects() {
        let bad = [
            "", ":", "eip155", "eip155:", ":1", "ab:1", "abcdefghi:1", "EIP155:1", "eip_55:1", "eip155:1:2",
            "bip122:" + String(repeating: "a", count: 33), "eip155: 1", "eip155:1 ", "cosmos:hub/3", "cosmos:hub.3",
            "eip155:01", "eip155:0", "eip155:1a", "eip155:-1", "eip155:0x1", "éip155:1", "eip155:１",
        ]
        for text in bad {
            assertTokError(.badChainId, { () throws(TokError) in try ChainId(parsing: text) }, "for \"\(text)\"")
        }
    }

    // MARK: CAIP-10

    func testAccountIdAcceptsSpecExamples() throws {
        let examples = [
            "eip155:1:0xab16a96D359eC26a11e2C2b3d8f8B8942d5Bfcdb",
            "bip122:000000000019d6689c085ae165831e93:128Lkh3S7CkDTBZ8W7BbpsN3YYizJMp8p6",
            "cosmos:cosmoshub-3:cosmos1t2uflqwqe0fsj0shcfkrvpukewcw40yjj6hdc0",
            "polkadot:b0a8d493285c2df73290dfb7e61f870f:5hmuyxw9xdgbpptgypokw4thfyoe3ryenebr381z9iaegmfy",
            "chainstd:8c3444cf8970a9e41a706fab93e7a6c4:6d9b0b4b9994e8a6afbd3dc3ed983cd51c755afb27cd1dc7825ef59c134a39f7",
            "hedera:mainnet:0.0.1234567890-zbhlt", "eip155:1:a%2Fb", "eip155:1:" + String(repeating: "Z", count: 128),
        ]
        for text in examples {
            XCTAssertEqual(try AccountId(parsing: text).description, text)
        }
        let account = try AccountId(parsing: "eip155:1:0xab16a96D359eC26a11e2C2b3d8f8B8942d5Bfcdb")
        XCTAssertEqual(account.chain, try ChainId(parsing: "eip155:1"))
        XCTAssertEqual(account.address, "0xab16a96D359eC26a11e2C2b3d8f8B8942d5Bfcdb")
    }

    func testAccountIdRejects() {
        let bad = [
            "", "eip155:1", "eip155:1:", "eip155:1:" + String(repeating: "Z", count: 129),
            "EIP155:1:0xab", "eip155:01:0xab", "ab:1:0xab", ":1:0xab", "eip155::0xab",
            "eip155:1:0xab:cd", "eip155:1:0x/ab", "eip155:1:0x ab", "eip155:1:0xé", "eip155:1:0x_ab",
        ]
        for text in bad {
            assertTokError(.badAccount, { () throws(TokError) in try AccountId(parsing: text) }, "for \"\(text)\"")
        }
    }

    // MARK: CAIP-19

    func testAssetTypeAcceptsSpecExamples() throws {
        let examples = [
            "eip155:1/slip44:60", "bip122:000000000019d6689c085ae165831e93/slip44:0", "cosmos:cosmoshub-3/slip44:118",
            "bip122:1a91e3dace36e2be3bf030a65679fe82/slip44:3",
            "eip155:1/erc20:0x6b175474e89094c44da98b954eedeac495271d0f",
            "cosmos:Binance-Chain-Tigris/bep2:BUSD-BD1",
            "eip155:1/erc721:0x06012c8cf97BEaD5deAe237070F9587f8E7A266d/771769",
            "hedera:mainnet/nft:0.0.55492/12", "eip155:1/abc:" + String(repeating: "r", count: 128),
            "eip155:1/erc1155:0x28959Cf125ccB051E70711D0924a62FB28EAF186/" + String(repeating: "9", count: 78),
        ]
        for text in examples {
            XCTAssertEqual(try AssetType(parsing: text).description, text)
        }
        let nft = try AssetType(parsing: "eip155:1/erc721:0x06012c8cf97BEaD5deAe237070F9587f8E7A266d/771769")
        XCTAssertEqual(nft.chain, try ChainId(parsing: "eip155:1"))
        XCTAssertEqual(nft.assetNamespace, "erc721")
        XCTAssertEqual(nft.assetReference, "0x06012c8cf97BEaD5deAe237070F9587f8E7A266d")
        XCTAssertEqual(nft.tokenId, "771769")
        XCTAssertNil(try AssetType(parsing: "eip155:1/slip44:60").tokenId)
    }

    func testAssetTypeRejects() {
        let bad = [
            "", "eip155:1", "eip155:1/", "eip155:1/slip44", "eip155:1/slip44:", "/slip44:60",
            "EIP155:1/slip44:60", "eip155:01/slip44:60", "eip155:1/ab:60", "eip155:1/abcdefghi:60",
            "eip155:1/SLIP44:60", "eip155:1/slip_44:60", "eip155:1/slip44:6#0", "eip155:1/slip44:60/",
            "eip155:1/abc:" + String(repeating: "r", count: 129),
            "eip155:1/erc721:0xab/" + String(repeating: "9", count: 79),
            "eip155:1/erc721:0xab/1/2", "eip155:1/erc721:0xab/1:2", "eip155:1/slip44:6 0", "eip155:1/slip44:é",
        ]
        for text in bad {
            assertTokError(.badAssetType, { () throws(TokError) in try AssetType(parsing: text) }, "for \"\(text)\"")
        }
    }

    func testCanonicalSlip44() throws {
        for text in [
            "eip155:1/slip44:60", "bip122:000000000019d6689c085ae165831e93/slip44:0",
            "eip155:1/slip44:2147483647",
        ] {
            let asset = try AssetType(parsing: text)
            XCTAssertEqual(try asset.canonical(), asset)
        }
        for text in [
            "eip155:1/slip44:060", "eip155:1/slip44:00", "eip155:1/slip44:six",
            "eip155:1/slip44:2147483648", "eip155:1/slip44:99999999999999999999",
            "eip155:1/slip44:60/1",
        ] {
            let asset = try AssetType(parsing: text)
            assertTokError(.badAssetType, { () throws(TokError) in try asset.canonical() }, "for \(text)")
        }
    }

    func testCanonicalERC20() throws {
        let dai = try AssetType(parsing: "eip155:1/erc20:0x6b175474e89094c44da98b954eedeac495271d0f").canonical()
        XCTAssertEqual(dai.description, "eip155:1/erc20:0x6B175474E89094C44Da98b954EedeAC495271d0F")
        XCTAssertEqual(try dai.canonical(), dai)
        let upper = try AssetType(parsing: "eip155:1/erc20:0x6B175474E89094C44DA98B954EEDEAC495271D0F").canonical()
        XCTAssertEqual(upper, dai)

        let wrongChecksum = try AssetType(parsing: "eip155:1/erc20:0x6b175474E89094C44Da98b954EedeAC495271d0F")
        assertTokError(.badChecksum) { () throws(TokError) in try wrongChecksum.canonical() }
        for text in [
            "eip155:1/erc20:0x6b175474e89094c44da98b954eedeac495271d0",
            "eip155:1/erc20:6b175474e89094c44da98b954eedeac495271d0f",
            "eip155:1/erc20:0x6b175474e89094c44da98b954eedeac495271d0g",
            "eip155:1/erc20:USDT",
            "cosmos:cosmoshub-3/erc20:0x6b175474e89094c44da98b954eedeac495271d0f",
            "eip155:1/erc20:0x6b175474e89094c44da98b954eedeac495271d0f/1",
        ] {
            let asset = try AssetType(parsing: text)
            assertTokError(.badAssetType, { () throws(TokError) in try asset.canonical() }, "for \(text)")
        }
    }

    func testCanonicalLeavesOtherNamespaces() throws {
        let asset = try AssetType(parsing: "eip155:1/erc721:0x06012c8cf97bead5deae237070f9587f8e7a266d/771769")
        XCTAssertEqual(try asset.canonical(), asset)
    }

    // MARK: EIP-55

    /// From EIP-55's "Test Cases" section: the first two groups happen to checksum to a
    /// single case, the last is ordinary mixed case.
    static let specAddresses = [
        "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ]

    private func uppercasingHexLetters(_ address: String) -> String {
        "0x" + address.dropFirst(2).uppercased()
    }

    func testEIP55SpecExamples() throws {
        for address in Self.specAddresses {
            XCTAssertEqual(try EIP55.canonicalAddress(address), address)
            XCTAssertEqual(try EIP55.canonicalAddress(address.lowercased()), address)
            XCTAssertEqual(try EIP55.canonicalAddress(uppercasingHexLetters(address)), address)
            XCTAssertEqual(EIP55.checksummed(address.lowercased()), address)
            XCTAssertEqual(EIP55.checksummed(address.lowercased().dropFirst(2)), address)
        }
    }

    func testEIP55EveryOneLetterCaseFlipIsRejected() throws {
        var checked = 0
        for address in Self.specAddresses {
            var bytes = Array(address.utf8)
            for index in 2..<bytes.count where bytes[index] >= UInt8(ascii: "A") {
                bytes[index] ^= 0x20
                let flipped = String(decoding: bytes, as: UTF8.self)
                let hex = flipped.dropFirst(2)
                if hex == hex.lowercased() || hex == hex.uppercased() {
                    // No longer mixed case, so there is no checksum to violate.
                    XCTAssertEqual(try EIP55.canonicalAddress(flipped), address)
                } else {
                    assertTokError(
                        .badChecksum, { () throws(TokError) in try EIP55.canonicalAddress(flipped) }, flipped)
                    checked += 1
                }
                bytes[index] ^= 0x20
            }
        }
        XCTAssertGreaterThan(checked, 100)
    }

    func testEIP55MalformedAddresses() {
        let valid = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
        let bad = [
            "", "0x", String(valid.dropFirst(2)), "0X" + valid.dropFirst(2), String(valid.dropLast()),
            valid + "d", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", " " + valid.dropFirst(),
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAé", "0x" + String(repeating: "0", count: 64),
        ]
        for text in bad {
            assertTokError(.badAccount, { () throws(TokError) in try EIP55.canonicalAddress(text) }, "for \"\(text)\"")
        }
        XCTAssertEqual(
            try EIP55.canonicalAddress("0x" + String(repeating: "0", count: 40)),
            "0x" + String(repeating: "0", count: 40))
        XCTAssertEqual(try EIP55.canonicalAddress("[\(valid)]".dropFirst().dropLast()), valid)
    }

    // MARK: EVM transaction ids

    func testEVMTxId() throws {
        let hash = "0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b"
        XCTAssertEqual(try EVMTxId.canonical(hash), hash)
        XCTAssertEqual(try EVMTxId.canonical("0x" + hash.dropFirst(2).uppercased()), hash)
        XCTAssertEqual(
            try EVMTxId.canonical("0x88DF016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944B"), hash)
        let bad = [
            "", "0x", String(hash.dropFirst(2)), String(hash.dropLast()), hash + "0", "0X" + hash.dropFirst(2),
            String(hash.dropLast()) + "g", "0x" + String(repeating: "0", count: 40), String(hash.dropLast()) + "é",
        ]
        for text in bad {
            assertTokError(.badTxId, { () throws(TokError) in try EVMTxId.canonical(text) }, "for \"\(text)\"")
        }
    }
}
