//! Tests that need a process of their own (a fresh registry, the global
//! excepthook, the process-wide timer scheduler or callback pool, a lowered
//! resource limit): the test re-runs its own binary on itself alone, in a
//! child process with a deadline. Also the address-space limit with which
//! such tests make thread creation fail.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::DEADLINE;

/// The variable that tells a child which test it is.
pub const CHILD: &str = "AMPHI_ISOLATED_CHILD";

/// Runs the test `name` of this binary alone in a fresh process, with a
/// deadline; fails with the child's output if it fails or hangs.
pub fn run_isolated(name: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let out_path =
        std::env::temp_dir().join(format!("amphi-isolated-{}-{name}.out", std::process::id()));
    let out = std::fs::File::create(&out_path).expect("an output file");
    let err = out.try_clone().expect("an output file");
    let mut child = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("the child test process");
    let limit = DEADLINE + Duration::from_secs(5);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    match status {
        None => panic!("isolated test `{name}` hung for {limit:?}:\n{text}"),
        Some(s) if !s.success() => panic!("isolated test `{name}` failed ({s}):\n{text}"),
        Some(_) => assert!(
            text.contains("1 passed"),
            "isolated test `{name}` did not run:\n{text}"
        ),
    }
}

/// A test that runs its body in a child process of its own.
#[allow(unused_macros)]
macro_rules! isolated {
    ($(#[$m:meta])* fn $name:ident() $body:block) => {
        $(#[$m])*
        #[test]
        fn $name() {
            if std::env::var($crate::common::child::CHILD).as_deref() == Ok(stringify!($name)) {
                $body
            } else {
                $crate::common::child::run_isolated(stringify!($name));
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use isolated;

/// Waits until `f` holds or `limit` passes; whether it held.
pub fn holds_within(limit: Duration, f: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

#[cfg(target_os = "linux")]
fn vm_size_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Whether this process's address-space soft limit is finite now.
#[cfg(target_os = "linux")]
pub fn address_space_limited() -> bool {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max address space"))
        .is_some_and(|l| l.split_whitespace().nth(3) != Some("unlimited"))
}

/// Lowers this process's address-space limit so that no new thread stack
/// fits, for `window`, from a helper shell (so that this process never
/// forks while limited). `None` where `prlimit` is missing; else the
/// helper, to wait for (it restores the limit).
#[cfg(target_os = "linux")]
pub fn limit_address_space_for(window: Duration) -> Option<std::process::Child> {
    let pid = std::process::id();
    let limit = vm_size_bytes() + (1 << 20);
    let script = format!(
        "prlimit --pid {pid} --as={limit}:unlimited || exit 1; sleep {}; \
         prlimit --pid {pid} --as=unlimited:unlimited",
        window.as_secs_f64()
    );
    let mut helper = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    if !holds_within(Duration::from_secs(2), address_space_limited) {
        let _ = helper.kill();
        let _ = helper.wait();
        eprintln!("prlimit unavailable: skipped");
        return None;
    }
    Some(helper)
}
