import CJansson

/// A parser for the usual shape of a record — ASCII text, strings without
/// escapes, integers of at most 18 digits, shallow nesting — that builds the
/// very values jansson's own parser builds, through the same jansson calls, in
/// the same order. jansson's parser reads one byte at a time through a callback
/// and grows a buffer per token: it was about a third of tok-validate's time.
///
/// Anything else, valid or not, makes it give up (nil) and the line goes to
/// jansson, so what is accepted, what is refused and every error message stay
/// exactly jansson's. That is the whole contract: on a text it does not give
/// up on, jansson would have returned an equal value.
struct FastJSONParser {
    private let bytes: UnsafePointer<UInt8>
    private let count: Int
    private var index = 0

    /// Far below jansson's 2048: deeper texts are not the usual shape.
    private static let maxDepth = 32
    /// 18 digits always fit in json_int_t (Int64): no overflow to handle here.
    private static let maxDigits = 18

    private init(bytes: UnsafePointer<UInt8>, count: Int) {
        self.bytes = bytes
        self.count = count
    }

    /// A new reference to the value, or nil when jansson must parse the text.
    static func parse(_ buffer: UnsafeRawBufferPointer) -> UnsafeMutablePointer<json_t>? {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return nil }
        var parser = FastJSONParser(bytes: base.assumingMemoryBound(to: UInt8.self), count: buffer.count)
        parser.skipWhitespace()
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipWhitespace()
        guard parser.index == parser.count else {
            json_decref(value)
            return nil
        }
        return value
    }

    private var next: UInt8 { index < count ? bytes[index] : 0 }

    private mutating func skipWhitespace() {
        while index < count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) -> UnsafeMutablePointer<json_t>? {
        switch next {
        case UInt8(ascii: "{"): return object(depth: depth)
        case UInt8(ascii: "["): return array(depth: depth)
        case UInt8(ascii: "\""):
            guard let (start, length) = stringSpan() else { return nil }
            return UnsafeRawPointer(bytes + start).withMemoryRebound(to: CChar.self, capacity: length) {
                json_stringn_nocheck($0, length)
            }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return integer()
        case UInt8(ascii: "t"): return literal("true", json_true())
        case UInt8(ascii: "f"): return literal("false", json_false())
        case UInt8(ascii: "n"): return literal("null", json_null())
        default: return nil
        }
    }

    /// At a quote: the bytes between it and the closing quote. Escapes, control
    /// characters and non-ASCII bytes (UTF-8 to validate) are left to jansson.
    private mutating func stringSpan() -> (start: Int, length: Int)? {
        let start = index + 1
        var cursor = start
        while cursor < count {
            let byte = bytes[cursor]
            if byte == UInt8(ascii: "\"") {
                index = cursor + 1
                return (start, cursor - start)
            }
            if byte < 0x20 || byte == UInt8(ascii: "\\") || byte >= 0x80 { return nil }
            cursor += 1
        }
        return nil
    }

    /// `-?(0|[1-9][0-9]*)` not followed by a fraction or an exponent (reals are jansson's).
    private mutating func integer() -> UnsafeMutablePointer<json_t>? {
        let negative = next == UInt8(ascii: "-")
        if negative { index += 1 }
        let start = index
        var magnitude: Int64 = 0
        while index < count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            if index - start == FastJSONParser.maxDigits { return nil }
            magnitude = magnitude * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        let digits = index - start
        guard digits >= 1, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        switch next {
        case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
        default: return json_integer(json_int_t(negative ? -magnitude : magnitude))
        }
    }

    /// jansson reads a whole run of letters as one word: `truex` is not `true`.
    private mutating func literal(
        _ word: StaticString, _ made: UnsafeMutablePointer<json_t>?
    ) -> UnsafeMutablePointer<json_t>? {
        let length = word.utf8CodeUnitCount
        guard index + length <= count else { return nil }
        for offset in 0..<length where bytes[index + offset] != word.utf8Start[offset] { return nil }
        index += length
        switch next {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return nil
        default: return made
        }
    }

    private mutating func object(depth: Int) -> UnsafeMutablePointer<json_t>? {
        guard depth < FastJSONParser.maxDepth, let object = json_object() else { return nil }
        if readMembers(into: object, depth: depth) { return object }
        json_decref(object)
        return nil
    }

    /// After `{`: the members and the closing brace. Duplicate keys are left to
    /// jansson (it refuses them, and says so in its own words).
    private mutating func readMembers(into object: UnsafeMutablePointer<json_t>, depth: Int) -> Bool {
        index += 1
        skipWhitespace()
        if next == UInt8(ascii: "}") {
            index += 1
            return true
        }
        while true {
            guard next == UInt8(ascii: "\""), let (start, length) = stringSpan() else { return false }
            skipWhitespace()
            guard next == UInt8(ascii: ":") else { return false }
            index += 1
            skipWhitespace()
            let key = UnsafeRawPointer(bytes + start).assumingMemoryBound(to: CChar.self)
            guard json_object_getn(object, key, length) == nil, let member = value(depth: depth + 1),
                // Takes over `member`'s reference (and drops it on failure).
                json_object_setn_new_nocheck(object, key, length, member) == 0
            else { return false }
            skipWhitespace()
            switch next {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                index += 1
                return true
            default:
                return false
            }
        }
    }

    private mutating func array(depth: Int) -> UnsafeMutablePointer<json_t>? {
        guard depth < FastJSONParser.maxDepth, let array = json_array() else { return nil }
        if readElements(into: array, depth: depth) { return array }
        json_decref(array)
        return nil
    }

    /// After `[`: the elements and the closing bracket.
    private mutating func readElements(into array: UnsafeMutablePointer<json_t>, depth: Int) -> Bool {
        index += 1
        skipWhitespace()
        if next == UInt8(ascii: "]") {
            index += 1
            return true
        }
        while true {
            // Takes over the element's reference (and drops it on failure).
            guard let element = value(depth: depth + 1), json_array_append_new(array, element) == 0 else {
                return false
            }
            skipWhitespace()
            switch next {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                index += 1
                return true
            default:
                return false
            }
        }
    }
}
