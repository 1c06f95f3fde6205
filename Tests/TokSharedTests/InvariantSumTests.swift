import XCTest
@testable import TokShared

/// `tok-apply check` sums balances in wider arithmetic than one amount: two accounts may each
/// hold more than half of 2^256, and a ledger tok-apply wrote itself never reads as overflowing.
extension LedgerTests {
    func testHugeBalancesOfManyAccountsAreNoOverflow() throws {
        let ledger = try openLedger()
        let half = UInt256.max.divided(by: 2).quotient
        for (index, account) in [LedgerTests.accountA, LedgerTests.accountB].enumerated() {
            let deposit = LedgerTests.deposit(
                "big-\(index)", tx: 100 + index, account: account, amount: half.adding(UInt256(5))!)
            XCTAssertEqual(try credit(ledger, deposit).get(), .credited(availableAfter: half.adding(UInt256(5))!))
        }
        XCTAssertEqual(try ledger.checkInvariants(), [], "two balances over 2^255 are a valid ledger")
    }

    func testWideSumArithmetic() {
        var sum = Ledger.WideSum()
        sum.add(.max)
        sum.add(UInt256(2))
        XCTAssertEqual(sum, Ledger.WideSum(carries: 1, low: UInt256(1)))
        XCTAssertEqual(sum.description, "1×2^256+1")
        var small = Ledger.WideSum()
        small.add(UInt256(3))
        XCTAssertTrue(small < sum)
        XCTAssertEqual(small + small, Ledger.WideSum(carries: 0, low: UInt256(6)))
        XCTAssertEqual(sum + sum, Ledger.WideSum(carries: 2, low: UInt256(2)))
    }
}
