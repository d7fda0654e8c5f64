@testable import CorpusBuild
import XCTest

final class SentenceSplitterTests: XCTestCase {
    let splitter = SentenceSplitter()

    func check(_ text: String, _ expected: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(splitter.split(text), expected, "splitting: \(text)", file: file, line: line)
    }

    func testAbbreviationsDoNotEndSentences() {
        check("Mr. and Mrs. Smith arrived. They were late.", ["Mr. and Mrs. Smith arrived.", "They were late."])
        check("Dr. Watson met Prof. Moriarty. Nobody smiled.", ["Dr. Watson met Prof. Moriarty.", "Nobody smiled."])
        check("See Fig. 3 and Vol. II for details. Done.", ["See Fig. 3 and Vol. II for details.", "Done."])
        check("Use tools, e.g. hammers, i.e. heavy ones, etc. and more. Next one.",
              ["Use tools, e.g. hammers, i.e. heavy ones, etc. and more.", "Next one."])
        check("Cities (e.g. Paris) are big. Villages are not.", ["Cities (e.g. Paris) are big.", "Villages are not."])
        check("We bought pens, paper, etc. The shop closed.", ["We bought pens, paper, etc.", "The shop closed."])
        check("The U.S. Army is large. It has many soldiers.", ["The U.S. Army is large.", "It has many soldiers."])
    }

    func testInitialsDecimalsAndInnerFullStops() {
        check("J. R. R. Tolkien wrote The Hobbit. It appeared in 1937.", ["J. R. R. Tolkien wrote The Hobbit.", "It appeared in 1937."])
        check("John F. Kennedy spoke. Crowds cheered.", ["John F. Kennedy spoke.", "Crowds cheered."])
        check("Pi is 3.14 roughly. It is irrational.", ["Pi is 3.14 roughly.", "It is irrational."])
        check("Visit example.com today. Thanks.", ["Visit example.com today.", "Thanks."])
        check("It costs $5. That is cheap.", ["It costs $5.", "That is cheap."])
        check("The war ended in 1945. 1946 was calm.", ["The war ended in 1945.", "1946 was calm."])
    }

    func testEllipsesQuestionRunsQuotesAndBrackets() {
        check("Wait... What happened? Nothing!", ["Wait...", "What happened?", "Nothing!"])
        check("He paused\u{2026} and went on. Then he stopped.", ["He paused\u{2026} and went on.", "Then he stopped."])
        check("Really?! Yes!!! Okay?", ["Really?!", "Yes!!!", "Okay?"])
        check("He said \"Go home.\" Then he left.", ["He said \"Go home.\"", "Then he left."])
        check("She wrote \u{201C}Done!\u{201D} \u{201C}Now what?\u{201D} he asked.", ["She wrote \u{201C}Done!\u{201D}", "\u{201C}Now what?\u{201D} he asked."])
        check("(This is bracketed.) This is not.", ["(This is bracketed.)", "This is not."])
        check("It ended.) Next.", ["It ended.)", "Next."])
    }

    func testEdgesWhitespaceAndCJK() {
        check("", [])
        check("   \t ", [])
        check("no boundary here", ["no boundary here"])
        check("  First one.\n   Second one.  ", ["First one.", "Second one."])
        check("Ends with a stop.", ["Ends with a stop."])
        // A lower-case start does not begin a sentence (documented limitation).
        check("The end. then more", ["The end. then more"])
        check("\u{8FD9}\u{662F}\u{7B2C}\u{4E00}\u{53E5}\u{3002}\u{8FD9}\u{662F}\u{7B2C}\u{4E8C}\u{53E5}\u{FF01}",
              ["\u{8FD9}\u{662F}\u{7B2C}\u{4E00}\u{53E5}\u{3002}", "\u{8FD9}\u{662F}\u{7B2C}\u{4E8C}\u{53E5}\u{FF01}"])
        // Custom abbreviations.
        let custom = SentenceSplitter(abbreviations: ["approx"])
        XCTAssertEqual(custom.split("Mr. Smith came. Approx. Ten people."), ["Mr.", "Smith came.", "Approx. Ten people."])
    }

    func testPythonStrip() {
        XCTAssertEqual(pythonStrip("  a b \r"), "a b")
        XCTAssertEqual(pythonStrip("\u{1C}\u{00A0}x\u{3000}"), "x")
        XCTAssertEqual(pythonStrip("\u{200B}x"), "\u{200B}x", "zero-width space is not whitespace for Python")
        XCTAssertEqual(pythonStrip(" \t\n"), "")
    }
}
