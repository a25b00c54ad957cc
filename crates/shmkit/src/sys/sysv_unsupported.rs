//! Foreign shared memory (System V IPC, POSIX named semaphores, `/proc` scans) on platforms
//! without a backend yet: everything compiles, every call fails with `Unsupported`.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::time::Instant;

/// How long a semaphore operation may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Until it can proceed.
    Forever,
    /// Not at all.
    Never,
    /// Until this moment.
    Until(Instant),
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "interop with Qt and System V IPC is not supported on this platform yet",
    )
}

pub(crate) fn is_removed(_e: &io::Error) -> bool {
    false
}

pub(crate) fn ftok(_path: &Path, _proj: u8) -> io::Result<i32> {
    Err(unsupported())
}

pub(crate) fn create_key_file(_path: &Path) -> io::Result<bool> {
    Err(unsupported())
}

pub(crate) fn file_mode(_path: &Path) -> Option<(u32, u32)> {
    None
}

pub(crate) fn remove_file(_path: &Path) -> io::Result<()> {
    Err(unsupported())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShmStat {
    pub key: i32,
    pub size: u64,
    pub nattch: u64,
    pub cpid: u32,
    pub lpid: u32,
    pub uid: u32,
    pub mode: u32,
}

pub(crate) fn shm_create(_key: i32, _size: usize, _mode: u32) -> io::Result<i32> {
    Err(unsupported())
}

pub(crate) fn shm_lookup(_key: i32, _mode: u32) -> io::Result<i32> {
    Err(unsupported())
}

pub(crate) fn shm_stat(_id: i32) -> io::Result<ShmStat> {
    Err(unsupported())
}

pub(crate) fn shm_remove(_id: i32) -> io::Result<()> {
    Err(unsupported())
}

/// Never constructed on this platform.
#[derive(Debug)]
pub(crate) struct ShmAttachment {
    never: std::convert::Infallible,
}

impl ShmAttachment {
    pub(crate) fn attach(_id: i32, _writable: bool) -> io::Result<ShmAttachment> {
        Err(unsupported())
    }
    pub(crate) fn ptr(&self) -> *mut u8 {
        match self.never {}
    }
    pub(crate) fn len(&self) -> usize {
        match self.never {}
    }
    pub(crate) fn detach(self) -> io::Result<()> {
        match self.never {}
    }
}

pub(crate) fn sem_create_excl(_key: i32, _mode: u32) -> io::Result<i32> {
    Err(unsupported())
}

pub(crate) fn sem_get(_key: i32, _mode: u32) -> io::Result<i32> {
    Err(unsupported())
}

pub(crate) fn sem_lookup(_key: i32) -> io::Result<i32> {
    Err(unsupported())
}

pub(crate) fn sem_set(_id: i32, _value: i32) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn sem_value(_id: i32) -> io::Result<i32> {
    Err(unsupported())
}

pub(crate) fn sem_last_pid(_id: i32) -> io::Result<u32> {
    Err(unsupported())
}

pub(crate) fn sem_remove(_id: i32) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn sem_op(_id: i32, _delta: i16, _wait: Wait) -> io::Result<bool> {
    Err(unsupported())
}

/// Never constructed on this platform.
#[derive(Debug)]
pub(crate) struct NamedSemaphore {
    never: std::convert::Infallible,
}

impl NamedSemaphore {
    pub(crate) fn open(
        _name: &str,
        _exclusive: bool,
        _mode: u32,
        _value: u32,
    ) -> io::Result<NamedSemaphore> {
        Err(unsupported())
    }
    pub(crate) fn open_existing(_name: &str) -> io::Result<NamedSemaphore> {
        Err(unsupported())
    }
    pub(crate) fn wait(&self, _wait: Wait) -> io::Result<bool> {
        match self.never {}
    }
    pub(crate) fn post(&self) -> io::Result<()> {
        match self.never {}
    }
    pub(crate) fn value(&self) -> io::Result<i32> {
        match self.never {}
    }
}

pub(crate) fn named_semaphore_unlink(_name: &str) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn named_semaphore_file(name: &str) -> String {
    format!("sem.{}", name.trim_start_matches('/'))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SysvShmEntry {
    pub key: i32,
    pub id: i32,
    pub mode: u32,
    pub size: u64,
    pub cpid: u32,
    pub lpid: u32,
    pub nattch: u64,
    pub uid: u32,
    pub ctime: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SysvSemEntry {
    pub key: i32,
    pub id: i32,
    pub mode: u32,
    pub nsems: u32,
    pub uid: u32,
    pub ctime: i64,
}

pub(crate) fn list_sysv_shm() -> io::Result<Vec<SysvShmEntry>> {
    Err(unsupported())
}

pub(crate) fn list_sysv_sem() -> io::Result<Vec<SysvSemEntry>> {
    Err(unsupported())
}

#[derive(Debug, Default)]
pub(crate) struct Mappers {
    pub files: HashMap<(u64, u64), Vec<u32>>,
    pub sysv: HashMap<i32, Vec<u32>>,
    pub complete: bool,
}

pub(crate) fn mappers() -> Mappers {
    Mappers::default()
}

pub(crate) fn shm_file_id(_name: &str) -> io::Result<(u64, u64)> {
    Err(unsupported())
}
