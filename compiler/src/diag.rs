//! Source files, spans and diagnostics. Every error the frontend can raise is a [`Diagnostic`]
//! with a code, a primary label, optional secondary labels and a `help:` line; rendering goes
//! through codespan-reporting.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;
use std::sync::Arc;

/// Index of a file in the [`SourceMap`].
pub type FileId = usize;

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both (which must be in the same file).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Every source file the frontend has read: the user's, the files they `use`, and the embedded
/// standard library.
#[derive(Default)]
pub struct SourceMap {
    files: SimpleFiles<String, Arc<str>>,
    count: usize,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// Adds a file under the name diagnostics will show.
    pub fn add(&mut self, name: impl Into<String>, source: impl Into<Arc<str>>) -> FileId {
        self.count += 1;
        self.files.add(name.into(), source.into())
    }

    pub fn source(&self, file: FileId) -> &str {
        self.files.get(file).map(|f| &**f.source()).unwrap_or("")
    }

    pub fn name(&self, file: FileId) -> &str {
        self.files
            .get(file)
            .map(|f| f.name().as_str())
            .unwrap_or("<unknown>")
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.source(span.file).get(span.range()).unwrap_or("")
    }

    /// 1-based (line, column) of a span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        line_col(self.source(span.file), span.start as usize)
    }
}

/// 1-based (line, column) of a byte offset in a source text.
pub fn line_col(src: &str, at: usize) -> (usize, usize) {
    let before = src.get(..at.min(src.len())).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One message to the user about their program.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// `E0201`-style code; see docs/diagnostics.md for the list.
    pub code: &'static str,
    pub message: String,
    pub primary: (Span, String),
    pub secondary: Vec<(Span, String)>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: (span, label.into()),
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span, label)
        }
    }

    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn to_codespan(&self) -> cs::Diagnostic<FileId> {
        let mut labels = vec![
            cs::Label::primary(self.primary.0.file, self.primary.0.range())
                .with_message(&self.primary.1),
        ];
        labels.extend(
            self.secondary
                .iter()
                .map(|(s, m)| cs::Label::secondary(s.file, s.range()).with_message(m)),
        );
        let mut notes = self.notes.clone();
        if let Some(help) = &self.help {
            notes.push(format!("help: {help}"));
        }
        let d = match self.severity {
            Severity::Error => cs::Diagnostic::error(),
            Severity::Warning => cs::Diagnostic::warning(),
        };
        d.with_code(self.code)
            .with_message(&self.message)
            .with_labels(labels)
            .with_notes(notes)
    }

    /// The diagnostic as plain text (what snapshot tests pin).
    pub fn render(&self, sources: &SourceMap) -> String {
        let config = term::Config::default();
        term::emit_into_string(&config, &sources.files, &self.to_codespan()).unwrap_or_else(|_| {
            format!(
                "{}[{}]: {}\n",
                self.severity_word(),
                self.code,
                self.message
            )
        })
    }

    /// Writes the diagnostic to stderr, in colour when stderr is a terminal.
    pub fn emit_stderr(&self, sources: &SourceMap) {
        use std::io::{IsTerminal, Write};
        let config = term::Config::default();
        let stderr = std::io::stderr();
        if stderr.is_terminal() {
            let styles = term::Styles::default();
            let stream =
                term::termcolor::StandardStream::stderr(term::termcolor::ColorChoice::Auto);
            let mut lock = stream.lock();
            let mut writer = term::StylesWriter::new(&mut lock, &styles);
            if term::emit_to_write_style(&mut writer, &config, &sources.files, &self.to_codespan())
                .is_ok()
            {
                return;
            }
        }
        let _ = stderr.lock().write_all(self.render(sources).as_bytes());
    }

    fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// `E0202`: `what` (such as ``parameter `x` ``) appears a second time at `again`, first at
/// `first`; `verb` is the participle the messages use ("declared", "defined", "bound", "named").
pub fn defined_twice(what: &str, verb: &str, again: Span, first: Span, help: &str) -> Diagnostic {
    Diagnostic::error(
        "E0202",
        format!("{what} is {verb} twice"),
        again,
        format!("{verb} again"),
    )
    .with_secondary(first, format!("first {verb} here"))
    .with_help(help)
}

/// Diagnostics collected by a pass; a pass goes on after an error so that independent errors
/// are all reported.
#[derive(Default, Debug)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        // A function body is checked once per instantiation; one mistake is reported once.
        if !self
            .list
            .iter()
            .any(|e| e.code == d.code && e.primary.0 == d.primary.0 && e.message == d.message)
        {
            self.list.push(d);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.list.iter().filter(|d| d.is_error()).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.list
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.list {
            self.push(d);
        }
    }

    /// Sorted by file and position, errors and warnings interleaved as they occur in the source.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.list
            .sort_by_key(|d| (d.primary.0.file, d.primary.0.start));
        self.list
    }
}
