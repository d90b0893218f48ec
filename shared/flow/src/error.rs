//! Errors of the workflow file and of expressions.

use std::fmt;

/// A workflow file that cannot be accepted. Displayed as `line 12, column 5: steps.notify.needs: unknown step "x"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// 1-based line in the source, when known.
    pub line: Option<usize>,
    /// 1-based column in the source, when known.
    pub column: Option<usize>,
    /// Dotted path of the field, e.g. `steps.notify.needs[0]`, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::error::Error for ValidationError {}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: ")?,
            (Some(l), None) => write!(f, "line {l}: ")?,
            _ => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// An expression that does not compile or evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The expression text is not valid CEL.
    #[error("invalid expression `{expr}`: {message}")]
    Syntax {
        /// The expression.
        expr: String,
        /// The parser's message.
        message: String,
    },
    /// Evaluation failed (unknown variable, type mismatch, …).
    #[error("expression `{expr}` failed: {message}")]
    Eval {
        /// The expression.
        expr: String,
        /// The evaluator's message.
        message: String,
    },
    /// A condition did not evaluate to a boolean.
    #[error("condition `{expr}` gave {got}, not true or false")]
    NotBool {
        /// The expression.
        expr: String,
        /// What it gave, as JSON.
        got: String,
    },
}
