//! Running the script against slotcache and redis-server side by side.

use super::compare::{compare_outcomes, render_outcome, setup_problem};
use super::conn::{Conn, Listener};
use super::script::{Proto, Script};
use slotcache_proto::reply::Reply;
use std::time::Duration;

/// One invocation whose replies differ.
#[derive(Clone, Debug)]
pub struct Difference {
    pub proto: Proto,
    pub line: usize,
    pub text: String,
    /// Where and how the replies differ, then both replies.
    pub detail: String,
}

/// The outcome of running a script against two servers.
#[derive(Debug, Default)]
pub struct Report {
    pub differences: Vec<Difference>,
    /// Compared invocations run (per protocol).
    pub invocations: usize,
}

/// Runs the groups for a standalone pair (`cluster` false) or a cluster-mode one in RESP2 and then
/// RESP3 against `ours` (slotcache) and `theirs` (redis-server), each group on fresh
/// connections after FLUSHALL.
///
/// # Errors
/// A connection that cannot be opened or a group whose setup cannot be sent.
pub fn run(
    script: &Script,
    cluster: bool,
    ours: &str,
    theirs: &str,
    timeout: Duration,
) -> Result<Report, String> {
    let mut report = Report::default();
    for proto in [Proto::Resp2, Proto::Resp3] {
        for group in script.groups.iter().filter(|g| g.mode.runs(cluster)) {
            let mut a = Conn::open(ours, timeout).map_err(|e| format!("{ours}: {e}"))?;
            let mut b = Conn::open(theirs, timeout).map_err(|e| format!("{theirs}: {e}"))?;
            let mut prelude: Vec<Vec<Vec<u8>>> = vec![vec![b"FLUSHALL".to_vec()]];
            if proto == Proto::Resp3 {
                prelude.insert(0, vec![b"HELLO".to_vec(), b"3".to_vec()]);
            }
            for cmd in &prelude {
                for c in [&mut a, &mut b] {
                    c.send(cmd)?;
                    c.recv(1)?;
                }
            }
            let mut listeners = if group.steps.iter().any(|s| s.events) {
                Some((
                    Listener::open(ours, timeout)?,
                    Listener::open(theirs, timeout)?,
                ))
            } else {
                None
            };
            let mut in_step = true;
            for step in group
                .steps
                .iter()
                .filter(|s| s.only.unwrap_or(proto) == proto)
            {
                if let Err(e) = a.send(&step.args).and_then(|()| b.send(&step.args)) {
                    // A server that closed the connection (or died) ends the group here.
                    report.differences.push(Difference {
                        proto,
                        line: step.line,
                        text: step.text.clone(),
                        detail: format!("could not send: {e}"),
                    });
                    break;
                }
                let (mut ra, mut rb) = (a.recv(step.replies), b.recv(step.replies));
                if let (true, Some((la, lb))) = (step.events, listeners.as_mut()) {
                    // The events follow the replies, as one more list to compare.
                    let ea = la.events_after(&mut a);
                    let eb = lb.events_after(&mut b);
                    for (r, e) in [(&mut ra, ea), (&mut rb, eb)] {
                        if let Ok(v) = r {
                            match e {
                                Ok(ev) => v.push(Reply::Array(ev)),
                                Err(e) => *r = Err(format!("events: {e}")),
                            }
                        }
                    }
                }
                // A command that got no reply leaves the connection out of step (or
                // blocked): the rest of the group would only time out too.
                let stuck = [&ra, &rb]
                    .iter()
                    .any(|r| r.as_ref().is_err_and(|e| e.contains("timeout")));
                if step.compare.is_none() {
                    if let Some(problem) = setup_problem(&ra, &rb) {
                        report.differences.push(Difference {
                            proto,
                            line: step.line,
                            text: step.text.clone(),
                            detail: problem,
                        });
                    }
                    if stuck {
                        in_step = false;
                        break;
                    }
                    continue;
                }
                report.invocations += 1;
                if let Err(why) = compare_outcomes(&ra, &rb, step) {
                    report.differences.push(Difference {
                        proto,
                        line: step.line,
                        text: step.text.clone(),
                        detail: format!(
                            "{why}\n      slotcache: {}\n      redis:     {}",
                            render_outcome(&ra),
                            render_outcome(&rb)
                        ),
                    });
                }
                if stuck {
                    in_step = false;
                    break;
                }
            }
            // Subscriptions, MONITOR and the like end before the next group starts: a
            // connection dropped unread may be cleaned up by its server only later.
            if in_step {
                for c in [&mut a, &mut b] {
                    c.reset();
                }
                for l in listeners.iter_mut().flat_map(|(x, y)| [x, y]) {
                    l.0.reset();
                }
            }
        }
    }
    Ok(report)
}
