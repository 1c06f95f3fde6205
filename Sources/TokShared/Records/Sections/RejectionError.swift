/// The `error` object of a rejected record (and the `payout_error` of a
/// transfer whose payout half was refused):
/// `{"stage":…,"code":…,"message":…,"retryable":…,"line":…}`.
public struct RejectionError: Sendable, Equatable {
    public enum Key {
        public static let stage = "stage"
        public static let code = "code"
        public static let message = "message"
        public static let retryable = "retryable"
        public static let line = "line"
    }

    public var stage: StageName
    public var code: ErrorCode
    public var message: String
    public var retryable: Bool
    /// The input line, for a line that could not be read as a record.
    public var line: Int?

    public init(stage: StageName, error: TokError, line: Int? = nil) {
        self.stage = stage
        self.code = error.code
        self.message = error.message
        self.retryable = error.retryable
        self.line = line
    }

    public func object() -> JSON {
        let object = JSON.object()
        object.set(Key.stage, string: stage.rawValue)
        object.set(Key.code, string: code.rawValue)
        object.set(Key.message, string: message)
        object.set(Key.retryable, bool: retryable)
        if let line { object.set(Key.line, integer: Int64(line)) }
        return object
    }

    public static func read(_ reader: FieldReader) throws(TokError) -> RejectionError {
        let stageText = try reader.string(Key.stage), codeText = try reader.string(Key.code)
        guard let stage = StageName(rawValue: stageText) else {
            throw TokError(.badFieldType, "\(reader.pathOf(Key.stage)) \"\(stageText)\" is not a tok stage")
        }
        guard let code = ErrorCode(rawValue: codeText) else {
            throw TokError(.badFieldType, "\(reader.pathOf(Key.code)) \"\(codeText)\" is not a tok error code")
        }
        var error = RejectionError(
            stage: stage, error: TokError(code, try reader.string(Key.message)),
            line: try reader.optionalCount(Key.line).map { Int($0) })
        error.retryable = try reader.bool(Key.retryable, default: code.retryable)
        return error
    }
}
