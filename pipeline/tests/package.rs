//! The Debian packages, as a technician gets them: `scripts/package` builds both (cargo-deb, release);
//! the test reads their control fields, extracts them into a throwaway root (`dpkg-deb -x`, no root
//! needed) and runs what is inside: `lintel --version`, `lintel check` against the RTSP test camera
//! and mosquitto, lintian (clean but for the overrides shipped), the service's `ExecStart` (its shipped settings file, with test paths given on
//! the command line) under a `NOTIFY_SOCKET`, and `systemd-analyze verify` on both units.
//!
//! Slow (a release build of both binaries, unless `cargo test --release` built them already), so
//! it is one test.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Broker, RtspCamera, pets_site, scratch_dir, workspace};

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The one `.deb` of `package` in target/debian/.
fn deb(package: &str) -> PathBuf {
    let dir = workspace("target/debian");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&format!("{package}_")) && name.ends_with(".deb")
        })
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("no {package}_*.deb in {}", dir.display()))
}

fn field(deb: &Path, name: &str) -> String {
    text(&run(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name))).trim().to_owned()
}

/// `systemd-analyze verify` on a unit of the extracted root, its `/usr/bin/…` pointed into the root.
fn verify_unit(root: &Path, unit: &str, dir: &Path) {
    let shipped = ["lib/systemd/system", "usr/lib/systemd/system"]
        .iter()
        .map(|d| root.join(d).join(unit))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{unit} is not in the package"));
    let text = std::fs::read_to_string(&shipped).unwrap();
    let bin = root.join("usr/bin");
    let local = dir.join(unit);
    std::fs::write(&local, text.replace("/usr/bin/", &format!("{}/", bin.display()))).unwrap();
    let output = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&local).output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && said.trim().is_empty(), "systemd-analyze verify {unit}:\n{said}");
}

/// `scripts/package`, once per test binary (the tests share what it builds).
fn build_packages() {
    static BUILT: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !*built {
        run(&mut Command::new(workspace("scripts/package")));
        *built = true;
    }
}

#[test]
fn both_packages_build_extract_into_a_root_and_run_from_there() {
    let dir = scratch_dir("package");
    build_packages();
    let (node, city) = (deb("lintel"), deb("lintel-city"));

    // Control fields: dpkg-shlibdeps named the libraries; the city server has no GStreamer or ORT.
    let depends = field(&node, "Depends");
    for library in ["libc6", "libgstreamer1.0-0", "libgstreamer-plugins-base1.0-0", "gstreamer1.0-plugins-good"] {
        assert!(depends.contains(library), "lintel Depends: {depends}");
    }
    let city_depends = field(&city, "Depends");
    assert!(city_depends.contains("libc6"), "lintel-city Depends: {city_depends}");
    assert!(!city_depends.contains("gstreamer") && !city_depends.contains("onnx"), "{city_depends}");
    // lintian: no error or warning but the overrides shipped in the packages (each with its reason,
    // packaging/*/lintian-overrides).
    for deb in [&node, &city] {
        let output = Command::new("lintian")
            .args(["--pedantic", "--fail-on", "error,warning"])
            .arg(deb)
            .output()
            .expect("lintian is not installed: run scripts/setup");
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success() && said.trim().is_empty(), "lintian {}:\n{said}", deb.display());
    }
    let control = dir.join("control");
    run(Command::new("dpkg-deb").arg("--control").arg(&node).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert!(conffiles.lines().any(|l| l == "/etc/lintel/lintel.toml"), "conffiles: {conffiles}");

    // Installed into a root of its own.
    let root = dir.join("root");
    for deb in [&node, &city] {
        run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));
    }
    for path in [
        "usr/lib/lintel/libonnxruntime.so.1.31.1",
        "usr/share/doc/lintel/onnxruntime/LICENSE",
        "usr/share/doc/lintel/PROVENANCE",
        "usr/share/doc/lintel/README.Debian",
        "usr/share/lintel/models/models.toml",
        "usr/share/man/man1/lintel.1.gz",
        "usr/share/man/man1/lintel-check.1.gz",
        "usr/share/man/man1/lintel-city.1.gz",
        "etc/lintel/lintel.toml",
        "etc/lintel/lintel-city.toml",
        "etc/lintel/city-credentials/README",
    ] {
        assert!(root.join(path).exists(), "{path} is not in the packages");
    }
    let lintel = root.join("usr/bin/lintel");
    let version = text(&run(Command::new(&lintel).arg("--version")));
    assert_eq!(version.trim(), format!("lintel {}", env!("CARGO_PKG_VERSION")));
    let city_version = text(&run(Command::new(root.join("usr/bin/lintel-city")).arg("--version")));
    assert!(city_version.starts_with("lintel-city "), "{city_version}");

    verify_unit(&root, "lintel.service", &dir);
    verify_unit(&root, "lintel-city.service", &dir);

    // `lintel check` from the root, run elsewhere: the models and ONNX Runtime are the package's.
    let camera = RtspCamera::start("/door");
    let broker = Broker::start(&dir);
    let site = pets_site(&dir, &camera.url);
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mqtt = format!("127.0.0.1:{}", broker.port);
    let config = root.join("etc/lintel/lintel.toml");
    let spool = dir.join("spool");
    let test_paths = |command: &mut Command| {
        command
            .arg("--config")
            .arg(&config)
            .arg("--site")
            .arg(&site)
            .args(["--mqtt", &mqtt, "--spool"])
            .arg(&spool)
            .current_dir(&elsewhere);
    };
    let mut check = Command::new(&lintel);
    check.arg("check");
    test_paths(&mut check);
    let report = text(&run(&mut check));
    println!("{report}");
    let models = root.join("usr/share/lintel/models/models.toml").canonicalize().unwrap();
    let library = root.join("usr/lib/lintel/libonnxruntime.so.1.31.1");
    let models_line = report.lines().find(|l| l.contains(" models ")).unwrap();
    let seen = |path: &Path| {
        models_line.contains(&path.display().to_string())
            || Path::new(models_line.split_whitespace().nth(2).unwrap_or("").trim_end_matches(':'))
                .canonicalize()
                .is_ok_and(|p| p == path)
    };
    assert!(seen(&models), "not the package's models: {models_line}");
    assert!(models_line.contains("usr/bin/../lib/lintel/libonnxruntime.so.1.31.1"), "{models_line}");
    assert!(library.exists());
    let camera_line = report.lines().find(|l| l.contains(" camera ")).unwrap();
    assert!(camera_line.starts_with("ok") && camera_line.contains("768×576"), "{camera_line}");

    // The service's ExecStart, told where systemd would listen: READY=1 within 30 s.
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut service = Command::new(&lintel);
    service.arg("run");
    test_paths(&mut service);
    let mut node = service
        .args(["--run-for-s", "60"])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "2000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buffer = [0u8; 1024];
    let ready = (0..20).any(|_| {
        socket.recv(&mut buffer).is_ok_and(|n| String::from_utf8_lossy(&buffer[..n]).lines().any(|l| l == "READY=1"))
    });
    let watchdog = ready && (0..10).any(|_| socket.recv(&mut buffer).is_ok_and(|n| &buffer[..n] == b"WATCHDOG=1\n"));
    common::signal(&node, "TERM");
    let status = node.wait().unwrap();
    assert!(ready, "the packaged node sent no READY=1 within 30 s");
    assert!(watchdog, "the packaged node sent no WATCHDOG=1");
    assert!(status.success(), "{status}");
}

/// Both packages installed by apt, with their maintainer scripts, into a clean Debian 12 root made
/// from Debian's packages (`mmdebstrap --variant=minbase`), nothing else of this repository there;
/// the installed `lintel check` against the RTSP test camera and mosquitto on the host's loopback;
/// then an upgrade from an older package version (the same build, version 0.0.9-1): the edited
/// conffile stays, and the messages the old node spooled while the broker was down are published
/// by the upgraded node, each once. Needs root (chroot) and mmdebstrap (scripts/setup installs it);
/// a few minutes.
#[test]
fn both_packages_install_and_upgrade_in_a_clean_debian_root() {
    if !Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n") {
        eprintln!("skipped: installing into a Debian root needs root (chroot)");
        return;
    }
    let dir = scratch_dir("package-root");
    build_packages();
    let (node, city) = (deb("lintel"), deb("lintel-city"));
    let old = dir.join("lintel_0.0.9-1_old.deb");
    {
        // The older version: the same files under an older version number.
        let unpacked = dir.join("old");
        run(Command::new("dpkg-deb").arg("-R").arg(&node).arg(&unpacked));
        let control = unpacked.join("DEBIAN/control");
        let text = std::fs::read_to_string(&control).unwrap();
        let version = text.lines().find(|l| l.starts_with("Version: ")).unwrap().to_owned();
        std::fs::write(&control, text.replace(&version, "Version: 0.0.9-1")).unwrap();
        run(Command::new("dpkg-deb").args(["--root-owner-group", "-b"]).arg(&unpacked).arg(&old));
    }
    let camera = RtspCamera::start("/door");
    let broker = Broker::start(&dir);
    let subscriber = common::Subscriber::start(broker.port, "lintel/v1/pets/#");
    let site = pets_site(&dir, &camera.url);
    let report = dir.join("check.txt");
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    let down = common::free_port();
    let run_node = |mqtt: u16, seconds: u32| {
        format!(
            "chroot \"$1\" lintel run --config /etc/lintel/lintel.toml --site /tmp/site.toml --mqtt 127.0.0.1:{mqtt} --interval-s 2 --run-for-s {seconds}"
        )
    };
    let hooks = [
        format!("copy-in {} {} {} {} /tmp", node.display(), old.display(), city.display(), site.display()),
        format!("chroot \"$1\" apt-get install -y -qq /tmp/{} /tmp/{}", name(&old), name(&city)),
        "chroot \"$1\" lintel --version".to_string(),
        "chroot \"$1\" lintel-city --version".to_string(),
        format!(
            "chroot \"$1\" lintel check --config /etc/lintel/lintel.toml --site /tmp/site.toml --mqtt 127.0.0.1:{} --spool /tmp/check-spool > {} 2>&1 || true",
            broker.port,
            report.display()
        ),
        // The technician edits the settings; the old node counts with the broker down (spooling).
        "echo '# edited by the technician' >> \"$1\"/etc/lintel/lintel.toml".to_string(),
        run_node(down, 12),
        format!("date +%s > {}", dir.join("upgraded-at").display()),
        format!("chroot \"$1\" apt-get install -y -qq /tmp/{}", name(&node)),
        "chroot \"$1\" dpkg-query -W lintel lintel-city".to_string(),
        "grep -c '^# edited by the technician' \"$1\"/etc/lintel/lintel.toml".to_string(),
        // The upgraded node, with the broker up: it publishes what was spooled, then its own.
        run_node(broker.port, 8),
    ];
    let mut mmdebstrap = Command::new("mmdebstrap");
    mmdebstrap.args(["--quiet", "--variant=minbase"]);
    for hook in &hooks {
        mmdebstrap.arg(format!("--customize-hook={hook}"));
    }
    // Nothing is kept: the root lives while the hooks run.
    let output = run(mmdebstrap.args(["bookworm", "/dev/null"]));
    // The hooks' output reaches mmdebstrap's stderr.
    let said = format!("{}{}", text(&output), String::from_utf8_lossy(&output.stderr));
    println!("{said}");
    assert!(said.contains(&format!("lintel {}", env!("CARGO_PKG_VERSION"))), "{said}");
    assert!(said.contains(&format!("lintel\t{}", field(&node, "Version"))), "not upgraded: {said}");
    assert!(said.lines().any(|l| l.trim() == "1"), "the edited conffile was not kept: {said}");
    let report = std::fs::read_to_string(&report).unwrap();
    println!("{report}");
    for check in ["site", "models", "camera", "broker", "spool"] {
        let line = report.lines().find(|l| l.split_whitespace().nth(1) == Some(check));
        assert!(line.is_some_and(|l| l.starts_with("ok")), "{check} in the installed check:\n{report}");
    }

    // What the broker got: counts of intervals from before the upgrade, no seq twice.
    std::thread::sleep(Duration::from_secs(1));
    let messages = subscriber.drain();
    let counts: Vec<&serde_json::Value> =
        messages.iter().filter(|(topic, _)| topic.ends_with("/counts")).map(|(_, m)| m).collect();
    let mut seqs: Vec<u64> = messages.iter().filter_map(|(_, m)| m["seq"].as_u64()).collect();
    let all = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), all, "a message published twice");
    let upgraded_at: i64 =
        std::fs::read_to_string(dir.join("upgraded-at")).unwrap().trim().parse().expect("a Unix time");
    let before: Vec<_> = counts
        .iter()
        .filter(|m| {
            let start = m["interval"]["start"].as_str().unwrap_or_default();
            time::OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339)
                .is_ok_and(|t| t.unix_timestamp() < upgraded_at)
        })
        .collect();
    assert!(!before.is_empty(), "no interval spooled before the upgrade was published: {counts:?}");
}
