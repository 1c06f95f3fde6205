import Foundation
import XCTest
@testable import TokShared
import TokTestSupport

/// A node a pipeline test class starts once and shares between its tests.
protocol TestNode: AnyObject {
    func stop()
}

extension EVMNode: TestNode {}
extension RegtestNode: TestNode {}

/// What the pipeline test classes share: the engine their ledger runs on
/// (each class has a PostgreSQL twin in PostgreSQLPipelineVariants.swift),
/// the chain nodes started once per class and stopped after its last test,
/// and a fresh workspace (directory, config, database) per test.
class PipelineTestCase: XCTestCase {
    class var engine: TestEngine { .sqlite }

    /// The class's nodes, started by its first test. None by default.
    class func startNodes() throws -> [TestNode] { [] }

    nonisolated(unsafe) private static var started: [ObjectIdentifier: Result<[TestNode], Error>] = [:]

    var workspace: Workspace!

    /// This class's nodes (starting them on first use); an XCTSkip from a
    /// node that is absent skips every test of the class.
    func nodes() throws -> [TestNode] {
        let key = ObjectIdentifier(Self.self)
        if PipelineTestCase.started[key] == nil {
            PipelineTestCase.started[key] = Result { try Self.startNodes() }
        }
        return try PipelineTestCase.started[key]!.get()
    }

    /// The class's node of type `T`.
    func node<T: TestNode>(_ type: T.Type = T.self) throws -> T {
        guard let node = try nodes().lazy.compactMap({ $0 as? T }).first else {
            throw TestPostgresError("\(Self.self) started no \(T.self)")
        }
        return node
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        workspace = try Workspace(engine: Self.engine)
    }

    override func tearDown() {
        workspace = nil
        super.tearDown()
    }

    override class func tearDown() {
        if case .success(let nodes)? = started.removeValue(forKey: ObjectIdentifier(self)) {
            for node in nodes { node.stop() }
        }
        super.tearDown()
    }
}

/// The generated PostgreSQL twins are in step with the test classes.
final class EngineVariantPipelineTests: XCTestCase {
    func testEveryPipelineTestRunsOnPostgreSQL() throws {
        let workspace = try Workspace()
        let result = try workspace.run("python3 '\(Repo.root.path)/scripts/engine-variants.py' --check")
        XCTAssertEqual(result.exitCode, 0, result.stderr)
    }
}
