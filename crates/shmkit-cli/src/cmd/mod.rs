//! The subcommands, one module each. A module holds its clap `Args` (with the subcommand's
//! help and examples) and a `run(args, out)` that does the work and writes to [`Output`].
//!
//! To add a subcommand: write `cmd/NAME.rs` on the same pattern, then add a variant to
//! [`Command`] and an arm to [`Command::run`].

use clap::Subcommand;

use crate::error::Result;
use crate::output::Output;

pub mod bench;
#[cfg(feature = "bridge")]
pub mod bridge;
pub mod create;
pub mod demo;
pub mod dump;
pub mod gc;
pub mod info;
pub mod lock;
pub mod ls;
// `pub` is a keyword: the module is `r#pub`, its file `pub.rs`, like the command.
pub mod r#pub;
pub mod read;
pub mod rm;
pub mod sub;
pub mod top;
pub mod watch;
pub mod write;

/// The help of every NAME argument.
pub const NAME_HELP: &str =
    "The segment's name: 1 to 30 characters of A-Z a-z 0-9 . _ - not starting with '.'";

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(demo::Args),
    Create(create::Args),
    Write(write::Args),
    Read(read::Args),
    Watch(watch::Args),
    #[command(name = "pub")]
    Pub(r#pub::Args),
    Sub(sub::Args),
    #[command(visible_alias = "list")]
    Ls(ls::Args),
    Info(info::Args),
    #[command(visible_alias = "remove")]
    Rm(rm::Args),
    Gc(gc::Args),
    Dump(dump::Args),
    Bench(bench::Args),
    /// The peer process of a `shmkit bench` case (started by the bench itself)
    #[command(name = "bench-role", hide = true)]
    BenchRole(bench::RoleArgs),
    /// One side of `shmkit demo` (started by the demo itself)
    #[command(name = "demo-role", hide = true)]
    DemoRole(demo::RoleArgs),
    Lock(lock::Args),
    Top(top::Args),
    View(crate::view::Args),
    #[cfg(feature = "bridge")]
    Bridge(bridge::Args),
}

impl Command {
    /// Runs the subcommand, writing its results to `out`.
    pub fn run(self, out: &mut Output) -> Result<()> {
        match self {
            Command::Demo(args) => demo::run(args, out),
            Command::Create(args) => create::run(args, out),
            Command::Write(args) => write::run(args, out),
            Command::Read(args) => read::run(args, out),
            Command::Watch(args) => watch::run(args, out),
            Command::Pub(args) => r#pub::run(args, out),
            Command::Sub(args) => sub::run(args, out),
            Command::Ls(args) => ls::run(args, out),
            Command::Info(args) => info::run(args, out),
            Command::Rm(args) => rm::run(args, out),
            Command::Gc(args) => gc::run(args, out),
            Command::Dump(args) => dump::run(args, out),
            Command::DemoRole(args) => demo::run_role(args, out),
            Command::Bench(args) => bench::run(args, out),
            Command::BenchRole(args) => bench::run_role(args, out),
            Command::Lock(args) => lock::run(args, out),
            Command::Top(args) => top::run(args, out),
            Command::View(args) => crate::view::run(args, out),
            #[cfg(feature = "bridge")]
            Command::Bridge(args) => bridge::run(args, out),
        }
    }
}
