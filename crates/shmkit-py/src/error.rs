//! shmkit's errors as Python exceptions: `shmkit.Error` and its subclasses (defined in Python, in
//! `shmkit/_errors.py`, so that they can also inherit `FileNotFoundError`, `PermissionError`,
//! `TimeoutError`...). The message is the core's, word for word.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use shmkit::ErrorKind;

/// The Python name of an error kind (`err.kind`), and the class that carries it.
fn kind_and_class(kind: ErrorKind) -> (&'static str, &'static str) {
    match kind {
        ErrorKind::NotFound => ("not_found", "NotFoundError"),
        ErrorKind::AlreadyExists => ("already_exists", "AlreadyExistsError"),
        ErrorKind::PermissionDenied => ("permission_denied", "PermissionDeniedError"),
        ErrorKind::InvalidName => ("invalid_name", "InvalidNameError"),
        ErrorKind::InvalidSize => ("invalid_size", "InvalidSizeError"),
        ErrorKind::InvalidInput => ("invalid_input", "InvalidInputError"),
        ErrorKind::Incompatible => ("incompatible", "IncompatibleError"),
        ErrorKind::Corrupt => ("corrupt", "CorruptError"),
        ErrorKind::OutOfResources => ("out_of_resources", "OutOfResourcesError"),
        ErrorKind::Timeout => ("timeout", "TimeoutError"),
        ErrorKind::WouldDeadlock => ("would_deadlock", "WouldDeadlockError"),
        ErrorKind::Overwritten => ("overwritten", "OverwrittenError"),
        ErrorKind::Unsupported => ("unsupported", "UnsupportedError"),
        ErrorKind::Os => ("os", "Error"),
        _ => ("other", "Error"),
    }
}

/// The fields of an exception.
struct Fields<'a> {
    class: &'a str,
    kind: &'a str,
    message: String,
    name: Option<&'a str>,
    reason: &'a str,
    hint: Option<&'a str>,
    errno: Option<i32>,
}

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || {
        PyModule::import(py, "shmkit._errors").map(Bound::unbind)
    })?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

fn build(py: Python<'_>, f: Fields<'_>) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let exc = class(py, f.class)?.call1((f.message.as_str(),))?;
        exc.setattr("kind", f.kind)?;
        exc.setattr("name", f.name)?;
        exc.setattr("reason", f.reason)?;
        exc.setattr("hint", f.hint)?;
        exc.setattr("errno", f.errno)?;
        Ok(PyErr::from_value(exc))
    };
    // Building the exception can only fail if the package is broken (no `_errors`): say that.
    make().unwrap_or_else(|e| e)
}

/// A core error as the matching `shmkit` exception.
pub(crate) fn to_py(py: Python<'_>, err: &shmkit::Error) -> PyErr {
    let (kind, class) = kind_and_class(err.kind());
    build(
        py,
        Fields {
            class,
            kind,
            message: err.to_string(),
            name: err.name(),
            reason: err.reason_text(),
            hint: err.hint_text(),
            errno: err.raw_os_error(),
        },
    )
}

/// `Result<T, shmkit::Error>` → `PyResult<T>`.
pub(crate) trait IntoPy<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for shmkit::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}

/// An error the binding itself reports, in the core's words: `cannot VERB "NAME": REASON`.
pub(crate) fn own(
    py: Python<'_>,
    kind: ErrorKind,
    verb: &str,
    name: &str,
    reason: String,
) -> PyErr {
    let (kind, class) = kind_and_class(kind);
    build(
        py,
        Fields {
            class,
            kind,
            message: format!("cannot {verb} {name:?}: {reason}"),
            name: Some(name),
            reason: &reason,
            hint: None,
            errno: None,
        },
    )
}

/// The handle was closed: `shmkit.ClosedError` (also a `ValueError`, as for closed files).
pub(crate) fn closed(py: Python<'_>, what: &str, name: &str) -> PyErr {
    let reason = format!("this {what} is closed");
    build(
        py,
        Fields {
            class: "ClosedError",
            kind: "closed",
            message: format!("cannot use {name:?}: {reason}"),
            name: Some(name),
            reason: &reason,
            hint: None,
            errno: None,
        },
    )
}
