/// tok-verify's payout half: after the authorisation checked out, an advisory
/// balance check against tok-apply's ledger, a nonce chosen from the ledger,
/// and the destination transaction built and signed with the operator's key.
extension VerifyStage {
    typealias PayoutItem = VerifyBatch.PayoutJob

    func signPayouts(_ items: [PayoutItem], batch: VerifyBatch) async {
        var toSign: [PayoutItem] = []
        var batchDebits: [String: UInt256] = [:]
        // A request a second time in this batch waits for the first's result (see below).
        var firstInBatch: [String: PayoutItem] = [:]
        var repeats: [PayoutItem] = []
        let now = monotonicMilliseconds()
        recentlySigned = recentlySigned.filter {
            now - $0.value.signedAtMilliseconds < VerifyStage.takenCoinExpiryMilliseconds
        }
        for item in items {
            let record = batch.records[item.index]
            do throws(TokError) {
                if let ledger, let stored = try ledger.payout(requestId: item.payout.requestId) {
                    // A replay: re-emit the recorded transaction; signing anew would only waste a nonce.
                    item.flow.payoutSigned(record, payout: item.payout, payoutTx: PayoutTx(row: stored), batch: batch)
                    continue
                }
                if let earlier = recentlySigned[item.payout.requestId] {
                    // Signed earlier in this input, perhaps not recorded yet: the same transaction again.
                    try resignSame(item, as: earlier, record: record, batch: batch)
                    continue
                }
                if firstInBatch[item.payout.requestId] != nil {
                    repeats.append(item)
                    continue
                }
                firstInBatch[item.payout.requestId] = item
                if let ledger {
                    // Advisory only: tok-apply re-checks atomically at prepare. Counts the
                    // deposits this process attested that the ledger does not show yet.
                    // (Payouts it signed in earlier batches are not subtracted: a stale
                    // debit would refuse good payouts, while an over-generous check only
                    // meets prepare's atomic refusal.)
                    let key = item.payout.account + "\u{0}" + item.payout.token
                    let balance = try ledger.balance(account: item.payout.account, token: item.payout.token)
                    let credits = try inFlight.pendingCredits(
                        account: item.payout.account, token: item.payout.token, ledger: ledger)
                    let available = balance.available.adding(credits) ?? .max
                    let needed = batchDebits[key, default: .zero].adding(item.payout.debit) ?? .max
                    guard needed <= available else {
                        throw TokError(
                            .insufficientBalance,
                            "\(item.payout.account) has \(available) \(item.payout.token) available, the payout needs \(item.payout.debit)"
                        )
                    }
                    batchDebits[key] = needed
                }
                guard item.payout.sender != nil else {
                    throw TokError(
                        .badKey, "network \(item.payout.destinationNetwork.alias) has no operator address to pay from")
                }
                toSign.append(item)
            } catch {
                item.flow.payoutRefused(record, error, batch: batch)
            }
        }

        var byNetwork: [String: [PayoutItem]] = [:]
        for item in toSign { byNetwork[item.payout.destinationNetwork.alias, default: []].append(item) }
        for alias in byNetwork.keys.sorted() {
            await signGroup(byNetwork[alias]!, batch: batch)
        }
        rememberSigned(toSign, batch: batch, now: now)
        for item in repeats { finishRepeat(item, first: firstInBatch[item.payout.requestId]!, batch: batch) }
    }

    /// What this process signed for a request, so a line sent twice costs no second nonce.
    struct RecentSignature {
        var message: String
        var payoutTx: PayoutTx
        var signedAtMilliseconds: Int
    }

    /// More than this many remembered signatures: the oldest are forgotten (a
    /// repeat then only costs a nonce that reconciliation fills).
    static let maxRecentSignatures = 100_000

    private func rememberSigned(_ items: [PayoutItem], batch: VerifyBatch, now: Int) {
        for item in items where batch.records[item.index].status == .signed {
            guard let payoutTx = try? PayoutTx.read(batch.records[item.index]) else { continue }
            if recentlySigned.count >= VerifyStage.maxRecentSignatures,
                let oldest = recentlySigned.min(by: { $0.value.signedAtMilliseconds < $1.value.signedAtMilliseconds })
            {
                recentlySigned[oldest.key] = nil
            }
            recentlySigned[item.payout.requestId] = RecentSignature(
                message: item.payout.authorisation.message,
                payoutTx: payoutTx, signedAtMilliseconds: now)
        }
    }

    /// The same request again: the same signed transaction, never a new one.
    /// Another payout under the same id is refused here, before it costs a nonce.
    private func resignSame(
        _ item: PayoutItem, as earlier: RecentSignature, record: JSON, batch: VerifyBatch
    ) throws(TokError) {
        guard earlier.message == item.payout.authorisation.message else {
            throw TokError(
                .conflictingRecord,
                "request id \(item.payout.requestId) was signed earlier in this input for a different payout")
        }
        item.flow.payoutSigned(record, payout: item.payout, payoutTx: earlier.payoutTx, batch: batch)
    }

    /// A request seen twice in one batch gets what its first line got.
    private func finishRepeat(_ item: PayoutItem, first: PayoutItem, batch: VerifyBatch) {
        let record = batch.records[item.index]
        if let earlier = recentlySigned[item.payout.requestId] {
            do throws(TokError) { try resignSame(item, as: earlier, record: record, batch: batch) } catch {
                item.flow.payoutRefused(record, error, batch: batch)
            }
            return
        }
        let firstRecord = batch.records[first.index]
        let refusal = firstRecord[TransferFlow.payoutErrorKey] ?? firstRecord[Field.error]
        let code = refusal?.string(at: "code").flatMap(ErrorCode.init(rawValue:)) ?? .internalError
        item.flow.payoutRefused(
            record,
            TokError(
                code,
                "as the first line of request \(item.payout.requestId) in this batch: \(refusal?.string(at: "message") ?? "not signed")"
            ),
            batch: batch)
    }

    private func signGroup(_ items: [PayoutItem], batch: VerifyBatch) async {
        let network = items[0].payout.destinationNetwork
        let channel = payoutChannel(for: network)
        let key: PrivateKey
        do throws(TokError) {
            key = try signingKey(for: network)
        } catch {
            for item in items { item.flow.payoutRefused(batch.records[item.index], error, batch: batch) }
            return
        }
        if channel.fundingModel == .coins {
            await signFromCoins(items, batch: batch, network: network, channel: channel, key: key)
            return
        }
        var chainNonces: [String: Swift.Result<UInt64, TokError>] = [:]
        for sender in Set(items.map { $0.payout.sender! }).sorted() {
            do throws(TokError) { chainNonces[sender] = .success(try await channel.chainNonce(sender: sender)) } catch {
                chainNonces[sender] = .failure(error)
            }
        }

        var orders: [PayoutOrder] = []
        var ordered: [(item: PayoutItem, chainNonce: UInt64)] = []
        var taken: [String: Set<UInt64>] = [:]
        for item in items {
            let sender = item.payout.sender!
            do throws(TokError) {
                let chainNonce = try chainNonces[sender]!.get()
                let nonce = try chooseNonce(
                    network: network, sender: sender, chainNonce: chainNonce, taken: taken[sender, default: []])
                taken[sender, default: []].insert(nonce)
                orders.append(
                    PayoutOrder(
                        requestId: item.payout.requestId, destination: item.payout.destinationAddress,
                        amount: item.payout.destinationAmount, mapping: item.payout.destinationMapping,
                        sender: sender, nonce: nonce))
                ordered.append((item, chainNonce))
            } catch {
                item.flow.payoutRefused(batch.records[item.index], error, batch: batch)
            }
        }
        if orders.isEmpty { return }
        let signed = await channel.sign(orders, key: key)
        for ((item, chainNonce), result) in zip(ordered, signed) {
            switch result {
            case .success(let payout):
                item.flow.payoutSigned(
                    batch.records[item.index], payout: item.payout,
                    payoutTx: PayoutTx(
                        chain: network.chainText, tx: payout.txId, rawHex: payout.rawHex, sender: payout.sender,
                        spendGuard: .nonce(payout.nonce, chainNonce: chainNonce)), batch: batch)
                logger.info(
                    "payout signed",
                    metadata: ["id": "\(item.payout.requestId)", "tx": "\(payout.txId)", "nonce": "\(payout.nonce)"])
            case .failure(let error):
                item.flow.payoutRefused(batch.records[item.index], error, batch: batch)
            }
        }
    }

    /// UTXO chains: each payout is built from the coins the ledger shows free
    /// and this process has not used yet, one after another, so two payouts of
    /// one run never pick the same coin.
    private func signFromCoins(
        _ items: [PayoutItem], batch: VerifyBatch, network: NetworkConfig, channel: PayoutChannel,
        key: PrivateKey
    ) async {
        guard let ledger else {
            let error =
                ledgerTarget.map { target in
                    TokError(
                        .payoutDisabled,
                        "payouts on \(network.alias) spend coins tok-apply's ledger holds, and the database \(target) (--db) does not exist yet: run tok-apply --db \(target) first"
                    )
                }
                ?? TokError(
                    .payoutDisabled,
                    "payouts on \(network.alias) spend coins tok-apply's ledger holds: give tok-verify --db")
            for item in items { item.flow.payoutRefused(batch.records[item.index], error, batch: batch) }
            return
        }
        let now = monotonicMilliseconds()
        var taken = takenCoins[network.chainText, default: [:]].filter {
            now - $0.value < VerifyStage.takenCoinExpiryMilliseconds
        }
        defer { takenCoins[network.chainText] = taken }
        for item in items {
            let sender = item.payout.sender!
            do throws(TokError) {
                let coins = try ledger.spendableCoins(
                    chain: network.chainText, address: sender, excluding: Set(taken.keys), limit: 1_000)
                let order = PayoutOrder(
                    requestId: item.payout.requestId, destination: item.payout.destinationAddress,
                    amount: item.payout.destinationAmount, mapping: item.payout.destinationMapping,
                    sender: sender, nonce: 0, coins: coins)
                let signed = try await channel.sign([order], key: key)[0].get()
                for coin in signed.inputs { taken[coin.outpoint] = now }
                item.flow.payoutSigned(
                    batch.records[item.index], payout: item.payout,
                    payoutTx: PayoutTx(
                        chain: network.chainText, tx: signed.txId, rawHex: signed.rawHex, sender: signed.sender,
                        spendGuard: signed.spendGuard), batch: batch)
                logger.info(
                    "payout signed",
                    metadata: [
                        "id": "\(item.payout.requestId)", "tx": "\(signed.txId)",
                        "inputs": "\(signed.inputs.count)", "network_fee": "\(signed.maxNetworkFee)",
                    ])
            } catch {
                item.flow.payoutRefused(batch.records[item.index], error, batch: batch)
            }
        }
    }

    /// The ledger's lowest released nonce first (so no gap stays open), else the
    /// highest of: the ledger's next nonce, the chain's pending nonce, and one
    /// past what this process handed out last.
    private func chooseNonce(
        network: NetworkConfig, sender: String, chainNonce: UInt64, taken: Set<UInt64>
    ) throws(TokError) -> UInt64 {
        let key = network.chainText + ":" + sender
        var ledgerNext: UInt64 = 0
        if let ledger {
            let (free, next) = try ledger.nonceToUse(chain: network.chainText, sender: sender, excluding: taken)
            // A released nonce below the chain's pending count was used meanwhile
            // (outside tok): skip it; prepare would fail it as consumed anyway.
            if let free, free >= chainNonce { return free }
            ledgerNext = next ?? 0
        }
        var nonce = max(ledgerNext, chainNonce)
        if let last = lastNonce[key] { nonce = max(nonce, last + 1) }
        while taken.contains(nonce) { nonce += 1 }
        lastNonce[key] = nonce
        return nonce
    }

    /// Signs a nonce filler: zero value, from the sender to itself.
    func signNonceFill(_ fill: NonceFill, record: JSON, flow: any Flow, batch: VerifyBatch) async {
        do throws(TokError) {
            let key = try signingKey(for: fill.network)
            let order = PayoutOrder(
                requestId: fill.requestId, destination: fill.sender, amount: .zero,
                mapping: fill.mapping, sender: fill.sender, nonce: fill.nonce)
            let signed = try await payoutChannel(for: fill.network).sign([order], key: key)[0].get()
            PayoutFlow.markSigned(
                record,
                PayoutTx(
                    chain: fill.network.chainText, tx: signed.txId, rawHex: signed.rawHex,
                    sender: signed.sender, spendGuard: .nonce(signed.nonce, chainNonce: nil)),
                attestor: attestor)
            logger.info("nonce filler signed", metadata: ["nonce": "\(fill.nonce)", "tx": "\(signed.txId)"])
        } catch {
            flow.payoutRefused(record, error, batch: batch)
        }
    }

    private func payoutChannel(for network: NetworkConfig) -> PayoutChannel {
        if let existing = channels[network.alias] { return existing }
        let made = network.family.payoutChannel(for: network, logger: logger)
        channels[network.alias] = made
        return made
    }

    private func signingKey(for network: NetworkConfig) throws(TokError) -> PrivateKey {
        if let existing = keys[network.alias] { return existing }
        let key = try OperatorKeys.load(for: network, environment: environment)
        keys[network.alias] = key
        return key
    }
}
