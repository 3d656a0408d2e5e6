//! `lease grant|revoke|keep-alive|timetolive|list`.

use crate::args::{LeaseCommand, LeaseKeepAliveArgs};
use crate::error::{output_error, Stop};
use crate::interrupt;
use crate::lease_id;
use crate::output::{Format, Printer};
use crate::store::{self, Missing};
use revkv::LeaseTimeToLive;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// Runs one lease command.
pub fn lease<W: Write>(dir: &Path, cmd: LeaseCommand, out: &mut Printer<W>) -> Result<(), Stop> {
    match cmd {
        LeaseCommand::Grant(args) => {
            let db = store::open(dir, Missing::Create)?;
            let granted = db.lease_grant_with_id(args.id.unwrap_or(0), args.ttl)?;
            out.lease_granted(granted.id, granted.ttl, db.current_revision())
                .map_err(output_error)?;
            db.close()?;
        }
        LeaseCommand::Revoke(args) => {
            let db = store::open(dir, Missing::AnswerEmpty)?;
            let revision = db.lease_revoke(args.id)?;
            out.lease_revoked(args.id, revision).map_err(output_error)?;
            db.close()?;
        }
        LeaseCommand::KeepAlive(args) => keep_alive(dir, args, out)?,
        LeaseCommand::Timetolive(args) => {
            let db = store::open(dir, Missing::AnswerEmpty)?;
            // etcd answers TTL -1 and granted TTL 0 for a lease that is
            // unknown, revoked or expired; the library fails, and the
            // layer that serves etcd's API (here, the tool) maps it.
            let ttl = match db.lease_time_to_live(args.id, args.keys) {
                Ok(t) => t,
                Err(revkv::Error::LeaseNotFound { .. }) => LeaseTimeToLive::not_found(args.id),
                Err(e) => return Err(e.into()),
            };
            out.lease_ttl(&ttl, args.keys, db.current_revision())
                .map_err(output_error)?;
            db.close()?;
        }
        LeaseCommand::List => {
            let db = store::open(dir, Missing::AnswerEmpty)?;
            let ids = db.leases()?;
            out.lease_list(&ids, db.current_revision())
                .map_err(output_error)?;
            db.close()?;
        }
    }
    Ok(())
}

/// The interval between keep-alives: a third of the TTL, as etcd's client
/// renews, unless `--every` says otherwise.
fn interval(ttl: i64, every: Option<Duration>) -> Duration {
    every.unwrap_or_else(|| Duration::from_millis(ttl.max(1).unsigned_abs() * 1000 / 3))
}

/// `lease keep-alive ID [--once | --every SECS] [--count N]`: renews until
/// interrupted, until N renewals, or until the lease is gone (`lease ID
/// expired or revoked.`, status 0, as etcdctl); once with `--once` (where a
/// lease that is gone is an error). Each renewal is printed (and flushed)
/// as it happens.
fn keep_alive<W: Write>(
    dir: &Path,
    args: LeaseKeepAliveArgs,
    out: &mut Printer<W>,
) -> Result<(), Stop> {
    if !args.once {
        interrupt::install();
    }
    let db = store::open(dir, Missing::AnswerEmpty)?;
    let mut done: u64 = 0;
    loop {
        let ttl = match db.lease_keep_alive(args.id) {
            Ok(ttl) => ttl,
            Err(revkv::Error::LeaseNotFound { .. }) if !args.once => {
                // etcdctl says so only in the simple format; in the others
                // the output stays one answer per line.
                if out.format() == Format::Simple {
                    let gone = format!("lease {} expired or revoked.", lease_id::format(args.id));
                    out.line(&gone).map_err(output_error)?;
                }
                break;
            }
            Err(e) => return Err(e.into()),
        };
        out.lease_kept_alive(args.id, ttl, db.current_revision())
            .map_err(output_error)?;
        out.flush().map_err(output_error)?;
        done += 1;
        if args.once || args.count.is_some_and(|n| done >= n) {
            break;
        }
        let every = interval(ttl, args.every);
        if done == 1 && every >= Duration::from_secs(ttl.unsigned_abs()) {
            let _ = writeln!(
                io::stderr(),
                "warning: --every {}s is not shorter than the lease's TTL ({ttl}s); \
                 it may expire between keep-alives",
                every.as_secs_f64()
            );
        }
        if !interrupt::sleep(every) {
            break;
        }
    }
    db.close()?;
    Ok(())
}
