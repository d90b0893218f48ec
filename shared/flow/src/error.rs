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
    /// The expression is too large or too deeply nested (at compile), or its evaluation ran
    /// out of its budget of loop iterations, memory or time.
    #[error("expression `{expr}` is over a limit: {message}")]
    Limit {
        /// The expression (at most its first 200 characters).
        expr: String,
        /// Which limit, and what it is.
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

/// The machine-readable code of an [`ExprError`], as it appears in step and execution errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprErrorCode {
    /// Does not compile, fails, or gives the wrong type: `expression`.
    Expression,
    /// Over a size, nesting or evaluation limit: `expression_limit`.
    ExpressionLimit,
}

impl ExprErrorCode {
    /// The code as written in JSON errors.
    pub fn as_str(self) -> &'static str {
        match self {
            ExprErrorCode::Expression => "expression",
            ExprErrorCode::ExpressionLimit => "expression_limit",
        }
    }
}

impl ExprError {
    /// The error's code.
    pub fn code(&self) -> ExprErrorCode {
        match self {
            ExprError::Limit { .. } => ExprErrorCode::ExpressionLimit,
            _ => ExprErrorCode::Expression,
        }
    }
}
