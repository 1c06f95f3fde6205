import Foundation
import XCTest
@testable import TokShared
import TokTestSupport

// Every ledger test again, on PostgreSQL. Linux's XCTest finds only the test
// methods a class declares itself, so each one is overridden here; the
// engine-variant check (EngineVariantTests) fails when a new test of a base
// class has no line here.

final class LedgerPostgreSQLTests: LedgerTests {
    override class var engine: TestEngine { .postgresql }

    override func testCreditOnceThenDuplicate() throws { try super.testCreditOnceThenDuplicate() }
    override func testSameTxOtherRequestIsDuplicate() throws { try super.testSameTxOtherRequestIsDuplicate() }
    override func testSameRequestOtherTxConflicts() throws { try super.testSameRequestOtherTxConflicts() }
    override func testBalanceOverflow() throws { try super.testBalanceOverflow() }
    override func testBalancesArePerAccountAndToken() throws { try super.testBalancesArePerAccountAndToken() }
    override func testRecordSavepointUndoesOnlyTheFailingRecord() throws {
        try super.testRecordSavepointUndoesOnlyTheFailingRecord()
    }
    override func testRollbackBatchThenContinue() throws { try super.testRollbackBatchThenContinue() }
    override func testRequestState() throws { try super.testRequestState() }
    override func testAuditEntry() throws { try super.testAuditEntry() }
    override func testInvariantsHealthy() throws { try super.testInvariantsHealthy() }
    override func testInvariantsHealthyWithTransferDeposit() throws {
        try super.testInvariantsHealthyWithTransferDeposit()
    }
    override func testInvariantsCatchEditedBalance() throws { try super.testInvariantsCatchEditedBalance() }
    override func testInvariantsCatchNonCanonicalAmount() throws { try super.testInvariantsCatchNonCanonicalAmount() }
    override func testInvariantsCatchOrphans() throws { try super.testInvariantsCatchOrphans() }
    override func testAuditIsAppendOnly() throws { try super.testAuditIsAppendOnly() }
    override func testInvariantsCatchEditedAuditEntry() throws { try super.testInvariantsCatchEditedAuditEntry() }
    override func testInvariantsCatchForgedAuditRow() throws { try super.testInvariantsCatchForgedAuditRow() }
    override func testAuditWriteFailureKeepsCreditAndWarns() throws {
        try super.testAuditWriteFailureKeepsCreditAndWarns()
    }
    override func testReopenKeepsState() throws { try super.testReopenKeepsState() }
    override func testChangedMigrationIsRefused() throws { try super.testChangedMigrationIsRefused() }
    override func testNewerSchemaIsRefused() throws { try super.testNewerSchemaIsRefused() }
    override func testNegativeQuantitiesAreRefused() throws { try super.testNegativeQuantitiesAreRefused() }
    override func testDepositsAreKeyedPerAssetAfterTheUpgrade() throws {
        try super.testDepositsAreKeyedPerAssetAfterTheUpgrade()
    }
    override func testOneRequestCannotCreditTwoAssets() throws { try super.testOneRequestCannotCreditTwoAssets() }
    override func testForeignDatabaseIsRefusedUntouched() throws { try super.testForeignDatabaseIsRefusedUntouched() }
    override func testForeignMigrationsTableIsRefused() throws { try super.testForeignMigrationsTableIsRefused() }
    override func testMigrationsTableCreatedWhileProbingIsTok() throws {
        try super.testMigrationsTableCreatedWhileProbingIsTok()
    }
    override func testApplicationIdMarksTokFiles() throws { try super.testApplicationIdMarksTokFiles() }
    override func testNotADatabaseIsRefusedUntouched() throws { try super.testNotADatabaseIsRefusedUntouched() }

    // The writer lock is the engine's own: an advisory lock instead of a flock.
    override func testWriterLock() throws {
        let first = try writerConnection()
        let firstLock = AdvisoryWriterLock(connection: first, timeoutMilliseconds: 100)
        try firstLock.acquire()
        let second = AdvisoryWriterLock(connection: try writerConnection(), timeoutMilliseconds: 100)
        assertLockBusy(second, holder: "tok-test[\(getpid())], server process \(first.backendProcessId)")
        firstLock.release()
        XCTAssertNoThrow(try second.acquire())
        second.release()
    }

    // withLock holds the lock only for its body, and releases it when the body throws.
    override func testWriterLockWithLock() throws {
        let lock = AdvisoryWriterLock(connection: try writerConnection(), timeoutMilliseconds: 100)
        let other = AdvisoryWriterLock(connection: try writerConnection(), timeoutMilliseconds: 100)
        try lock.withLock { assertLockBusy(other, holder: "tok-test[\(getpid())]") }
        XCTAssertThrowsError(try lock.withLock { () throws -> Void in throw TokError(.internalError, "body failed") })
        XCTAssertNoThrow(try other.acquire())
        other.release()
    }

    // Locks on different databases do not conflict; a closed session's lock is gone (as a dead process's flock).
    override func testWriterLocksOnDifferentDatabasesAreIndependent() throws {
        var holder: PostgreSQLConnection? = try writerConnection()
        var one: AdvisoryWriterLock? = AdvisoryWriterLock(connection: holder!, timeoutMilliseconds: 0)
        let otherDatabase = try TestPostgres.shared().createDatabase()
        let two = AdvisoryWriterLock(
            connection: try PostgreSQLConnection(PostgreSQLSettings(uri: otherDatabase)), timeoutMilliseconds: 0)
        XCTAssertNoThrow(try one!.acquire())
        XCTAssertNoThrow(try two.acquire())
        two.release()
        let third = AdvisoryWriterLock(connection: try writerConnection(), timeoutMilliseconds: 0)
        XCTAssertThrowsError(try third.acquire())
        one = nil
        holder = nil
        XCTAssertNoThrow(try third.acquire())
    }

    func writerConnection() throws -> PostgreSQLConnection {
        var settings = PostgreSQLSettings(uri: path)
        settings.applicationName = "tok-test[\(getpid())]"
        return try PostgreSQLConnection(settings)
    }
}

final class CoinPoolPostgreSQLTests: CoinPoolTests {
    override class var engine: TestEngine { .postgresql }

    override func testDepositsFeedThePool() throws { try super.testDepositsFeedThePool() }
    override func testTwoPayoutsNeverHoldTheSameCoin() throws { try super.testTwoPayoutsNeverHoldTheSameCoin() }
    override func testUnknownOrMisvaluedCoinsAreRefused() throws { try super.testUnknownOrMisvaluedCoinsAreRefused() }
    override func testCommitAndRollbackSettleTheCoins() throws { try super.testCommitAndRollbackSettleTheCoins() }
    override func testOwnPayoutIsNotADeposit() throws { try super.testOwnPayoutIsNotADeposit() }
    override func testInvariantsCatchAStrandedReservation() throws {
        try super.testInvariantsCatchAStrandedReservation()
    }
}

final class LedgerChainPostgreSQLTests: LedgerChainTests {
    override class var engine: TestEngine { .postgresql }

    override func testBlocksExtendTheTip() throws { try super.testBlocksExtendTheTip() }
    override func testPaymentsMatureAtTheLevel() throws { try super.testPaymentsMatureAtTheLevel() }
    override func testShallowReorgKeepsTheCredit() throws { try super.testShallowReorgKeepsTheCredit() }
    override func testShortfallOpensAndResolves() throws { try super.testShortfallOpensAndResolves() }
    override func testOperatorResolvesAShortfall() throws { try super.testOperatorResolvesAShortfall() }
    override func testTwoAssetsOfOneTransactionAreTwoDeposits() throws {
        try super.testTwoAssetsOfOneTransactionAreTwoDeposits()
    }
    override func testOperatorResolvesEachAssetOfAnUnattributedTransaction() throws {
        try super.testOperatorResolvesEachAssetOfAnUnattributedTransaction()
    }
    override func testOperatorResolvesAnUnattributedPayment() throws {
        try super.testOperatorResolvesAnUnattributedPayment()
    }
    override func testStateHashDoesNotDependOnTheDetour() throws { try super.testStateHashDoesNotDependOnTheDetour() }
}

final class StageInProcessPostgreSQLTests: StageInProcessTests {
    override class var engine: TestEngine { .postgresql }

    override func testRecordsNoStageOwnsPassThroughUntouched() async throws {
        try await super.testRecordsNoStageOwnsPassThroughUntouched()
    }
    override func testApplyRefusesForgedAndIncompleteRecords() async throws {
        try await super.testApplyRefusesForgedAndIncompleteRecords()
    }
    override func testApplyRefusesBadPayoutRecords() async throws { try await super.testApplyRefusesBadPayoutRecords() }
    override func testApplyIsDeterministicUnderAFixedClock() async throws {
        try await super.testApplyIsDeterministicUnderAFixedClock()
    }
    override func testNoCreditIsLoggedWhenTheCommitFails() async throws {
        try await super.testNoCreditIsLoggedWhenTheCommitFails()
    }
}

final class MarketLedgerPostgreSQLTests: MarketLedgerTests {
    override class var engine: TestEngine { .postgresql }

    override func testCrossingOffersFillAtTheRestingPriceAndSettle() throws {
        try super.testCrossingOffersFillAtTheRestingPriceAndSettle()
    }
    override func testPartialFillsAcrossSeveralOffers() throws { try super.testPartialFillsAcrossSeveralOffers() }
    override func testTrimmerDropsAnUnanchoredRecordWhenItsRetentionEnds() throws {
        try super.testTrimmerDropsAnUnanchoredRecordWhenItsRetentionEnds()
    }
    override func testSelfMatchingAndDeletion() throws { try super.testSelfMatchingAndDeletion() }
    override func testWindowExpiresAndWrongPayers() throws { try super.testWindowExpiresAndWrongPayers() }
    override func testApprovals() throws { try super.testApprovals() }
    override func testReorgsUndoMatchesAndPayments() throws { try super.testReorgsUndoMatchesAndPayments() }
    override func testDeletedBeforeAnyFill() throws { try super.testDeletedBeforeAnyFill() }
}

/// Keeps this file in step with its base classes: every test a base class
/// declares runs on PostgreSQL too, unless it is listed as SQLite's own.
final class EngineVariantTests: XCTestCase {
    /// Tests of a SQLite file format, of SQLite's pragmas and query plans, or of pure functions: nothing to run
    /// on a server.
    static let sqliteOnly: Set<String> = [
        "testWriterKeepsItsStatementJournalOffMemory", "testBlockScansUseTheirPartialIndexes",
        "testTrimmerSeeksTheExpiryIndexByRange",
        "testSchemaOneIsMigrated", "testSchemaTwoFileIsAdopted",
        "testTheSmallestSufficientCoinIsChosen", "testLargestCoinsAreCombinedWhenNoneSuffices",
        "testDustChangeGoesToTheFee", "testDogecoinSoftDustShapesTheChange", "testBroadcastErrorsAreClassified",
        "testMalformedCoinsAreRefused", "testPayoutTxRoundTripsCoins",
        "testPriceThenTimeWithPartialFills", "testOnlyCrossingOffersFill", "testNoSelfMatching",
        "testRandomBooksKeepTheRules",
    ]

    static func tests(in file: String, pattern: String) throws -> Set<String> {
        let source = try String(
            contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent(file).path, encoding: .utf8)
        let expression = try NSRegularExpression(pattern: pattern)
        let range = NSRange(source.startIndex..., in: source)
        return Set(
            expression.matches(in: source, range: range).compactMap { match in
                Range(match.range(at: 1), in: source).map { String(source[$0]) }
            })
    }

    func testEveryLedgerTestRunsOnPostgreSQL() throws {
        let variants = try EngineVariantTests.tests(
            in: "PostgreSQLVariants.swift", pattern: "override func (test\\w+)\\(")
        for file in [
            "LedgerTests.swift", "CoinPoolTests.swift", "LedgerChainTests.swift", "StageInProcessTests.swift",
            "MarketTests.swift",
        ] {
            let base = try EngineVariantTests.tests(in: file, pattern: "\n    func (test\\w+)\\(")
            let missing = base.subtracting(variants).subtracting(EngineVariantTests.sqliteOnly)
            XCTAssertEqual(missing, [], "\(file): add these to PostgreSQLVariants.swift (or list them as SQLite's own)")
        }
    }
}
