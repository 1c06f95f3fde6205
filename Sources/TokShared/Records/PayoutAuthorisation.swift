/// The text a source account signs to authorise one payout. Every field that
/// decides where money goes is in it, so a signature for one payout can never
/// move different money; the request id makes it single-use (tok-apply
/// refuses a second payout under the same id), and the deployment line binds it
/// to one operator's deployment, so another deployment refuses it.
///
///     tok payout v2
///     deployment: acme-exchange
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
/// Unix seconds. The deployment is `[engine] deployment`, else the source
/// network's receiver as a CAIP-10 id. EVM accounts sign it with EIP-191
/// personal_sign. Version 1 (the same without the deployment line) is refused.
public struct PayoutAuthorisation: Sendable, Equatable {
    public var deployment: String
    public var requestId: String
    public var source: String
    public var destination: String
    public var token: String
    public var quantity: UInt256
    public var maxFee: UInt256
    public var expiresUnixSeconds: Int64

    public init(
        deployment: String, requestId: String, source: String, destination: String, token: String,
        quantity: UInt256, maxFee: UInt256, expiresUnixSeconds: Int64
    ) {
        self.deployment = deployment
        self.requestId = requestId
        self.source = source
        self.destination = destination
        self.token = token
        self.quantity = quantity
        self.maxFee = maxFee
        self.expiresUnixSeconds = expiresUnixSeconds
    }

    public static let header = "tok payout v2"
    /// The format before deployments were bound; signatures over it are refused.
    static let version1Header = "tok payout v1"

    public var message: String {
        """
        \(PayoutAuthorisation.header)
        deployment: \(deployment)
        \(body)
        """
    }

    private var body: String {
        """
        id: \(requestId)
        source: \(source)
        destination: \(destination)
        token: \(token)
        quantity: \(quantity)
        max fee: \(maxFee)
        expires: \(expiresUnixSeconds)
        """
    }

    /// The version 1 text of the same payout: valid in every deployment, which
    /// is why a signature over it is no longer accepted.
    var version1Message: String { PayoutAuthorisation.version1Header + "\n" + body }

    /// Checks a signature over the message by the source account's key.
    /// The family decides the signature scheme (EIP-191 on eip155 chains).
    public func verifySignature(
        _ signature: String, signer address: String, family: ChainFamily, chain: ChainId
    ) throws(TokError) {
        do {
            try family.verifyMessageSignature(message: message, signature: signature, address: address, chain: chain)
        } catch {
            // Say why an old client's signature fails, rather than only that it does.
            if (try? family.verifyMessageSignature(
                message: version1Message, signature: signature, address: address, chain: chain)) != nil
            {
                throw TokError(
                    .badSignature,
                    "the signature is over the \(PayoutAuthorisation.version1Header) message, which binds no deployment and is no longer accepted: sign the \(PayoutAuthorisation.header) message (tok-validate --payout-message)"
                )
            }
            throw error
        }
    }
}
