/// The text a source account signs to authorise one payout. Every field that
/// decides where money goes is in it, so a signature for one payout can never
/// move different money, and the request id makes it single-use (tok-apply
/// refuses a second payout under the same id).
///
///     tok payout v1
///     id: p-42
///     source: eip155:1:0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf
///     destination: bip122:1a91e3dace36e2be3bf030a65679fe82:DTnt7VZqR5ofHhAxZuDy4m3PhSjKFXpw3e
///     token: DOGE
///     quantity: 250000000
///     max fee: 1000000
///     expires: 1795312800
///
/// Lines end with "\n" (no trailing newline after the last), accounts are
/// canonical CAIP-10 ids, amounts are base units of the source asset, expiry is
/// Unix seconds. EVM accounts sign it with EIP-191 personal_sign.
public struct PayoutAuthorisation: Sendable, Equatable {
    public var requestId: String
    public var source: String
    public var destination: String
    public var token: String
    public var quantity: UInt256
    public var maxFee: UInt256
    public var expiresUnixSeconds: Int64

    public static let header = "tok payout v1"

    public var message: String {
        """
        \(PayoutAuthorisation.header)
        id: \(requestId)
        source: \(source)
        destination: \(destination)
        token: \(token)
        quantity: \(quantity)
        max fee: \(maxFee)
        expires: \(expiresUnixSeconds)
        """
    }

    /// Checks a signature over the message by the source account's key.
    /// The family decides the signature scheme (EIP-191 on eip155 chains).
    public func verifySignature(_ signature: String, signer address: String, family: ChainFamily, chain: ChainId) throws(TokError) {
        try family.verifyMessageSignature(message: message, signature: signature, address: address, chain: chain)
    }
}
