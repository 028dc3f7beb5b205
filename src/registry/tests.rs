use super::*;

const MINI: &str = r#"
default_backend = "fake"

[backends.fake]
command = ["python3", "fake.py", "--out", "{output_dir}"]

[features.cfg_parallel]
args = ["--cfg-parallel-size", "2"]
gpus = 2

[features.teacache]
args = ["--cache-backend", "tea_cache"]
lossy = true
exclusive = "cache-backend"
"#;

fn err(text: &str) -> String {
    match Registry::parse(text, "features.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn embedded_registry_is_valid_and_ordered() {
    let r = Registry::parse(EMBEDDED, EMBEDDED_NAME).expect("embedded registry parses");
    let ids: Vec<&str> = r.features.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids[..6],
        [
            "cfg_parallel",
            "teacache",
            "cache_dit",
            "ulysses",
            "ring",
            "tp"
        ]
    );
    // The default args are vLLM-Omni's spelling, which the reference engine
    // speaks too; every other engine has its own spelling or a reason.
    for f in &r.features {
        for b in ["xdit", "diffusers"] {
            assert!(
                f.backend_args.contains_key(b)
                    || f.unsupported.contains_key(b)
                    || f.args.is_empty(),
                "{}: vLLM-Omni's flags would reach {b}",
                f.id
            );
        }
    }
    // Every feature runs somewhere, and each backend either has its flags or
    // says why not: none runs the baseline under a feature's name.
    for f in &r.features {
        assert!(
            r.backends
                .keys()
                .any(|b| f.unsupported_on(b, "Qwen/Qwen-Image").is_none()),
            "{} runs nowhere",
            f.id
        );
        for b in r.backends.keys() {
            if f.unsupported_on(b, "m").is_none() {
                assert!(
                    !f.args_for(b).is_empty(),
                    "{} runs on {b} with no flags",
                    f.id
                );
            }
        }
    }
    assert_eq!(r.default_backend, "reference");
    let reference = r.backend("reference").expect("reference backend");
    assert_eq!(reference.devices, DeviceSource::CpuCores);
    assert_eq!(reference.command[0], "{compat}");
    assert_eq!(r.feature("teacache").map(|f| f.lossy), Some(true));
    assert_eq!(r.thresholds, Thresholds::default());
}

#[test]
fn minimal_registry_parses() {
    let r = Registry::parse(MINI, "features.toml").expect("parses");
    assert_eq!(r.features.len(), 2);
    assert_eq!(r.feature("cfg_parallel").map(|f| f.gpus), Some(2));
    assert_eq!(r.feature("teacache").map(|f| f.gpus), Some(1));
    assert_eq!(
        r.backend("fake").map(|b| b.devices),
        Some(DeviceSource::Gpu)
    );
}

#[test]
fn unknown_key_names_line_and_suggests() {
    let text = MINI.replace("lossy = true", "lossyy = true");
    let e = err(&text);
    assert!(e.starts_with("features.toml:13:"), "{e}");
    assert!(e.contains("lossyy"), "{e}");
    assert!(e.contains("did you mean 'lossy'"), "{e}");
}

#[test]
fn zero_gpus_is_an_error_at_its_line() {
    let e = err(&MINI.replace("gpus = 2", "gpus = 0"));
    assert!(e.starts_with("features.toml:9:"), "{e}");
    assert!(e.contains("gpus = 0") && e.contains("at least 1"), "{e}");
}

#[test]
fn bad_id_is_rejected_with_a_fix() {
    let e = err(&MINI.replace("[features.teacache]", "[features.Tea-Cache]"));
    assert!(e.starts_with("features.toml:11:"), "{e}");
    assert!(
        e.contains("a-z, 0-9 and _") && e.contains("tea_cache"),
        "{e}"
    );
}

#[test]
fn duplicate_feature_is_rejected() {
    let text = format!("{MINI}\n[features.teacache]\nargs = [\"x\"]\n");
    let e = err(&text);
    assert!(e.contains("duplicate"), "{e}");
    assert!(e.starts_with("features.toml:16:"), "{e}");
}

#[test]
fn conflict_with_unknown_feature_suggests() {
    let text = format!("{MINI}\n[[conflicts]]\nfeatures = [\"teacach\", \"cfg_parallel\"]\n");
    let e = err(&text);
    assert!(e.starts_with("features.toml:17:"), "{e}");
    assert!(e.contains("unknown feature 'teacach'"), "{e}");
    assert!(e.contains("did you mean 'teacache'"), "{e}");
}

#[test]
fn backend_without_command_is_rejected() {
    let e = err(&MINI.replace(
        "command = [\"python3\", \"fake.py\", \"--out\", \"{output_dir}\"]",
        "model = \"m\"",
    ));
    assert!(e.contains("backend 'fake' has no command"), "{e}");
    assert!(e.starts_with("features.toml:"), "{e}");
}

#[test]
fn unknown_placeholder_is_rejected() {
    let e = err(&MINI.replace("{output_dir}", "{outdir}"));
    assert!(e.contains("unknown placeholder {outdir}"), "{e}");
}

#[test]
fn backend_args_must_name_a_backend() {
    let text = MINI.replace(
        "gpus = 2\n",
        "gpus = 2\nbackend_args = { xdti = [\"--use_cfg_parallel\"] }\n",
    );
    let e = err(&text);
    assert!(e.contains("unknown backend 'xdti'"), "{e}");
}

#[test]
fn per_backend_args_override() {
    let text = MINI.replace(
        "gpus = 2\n",
        "gpus = 2\nbackend_args = { fake = [\"--use_cfg_parallel\"] }\n",
    );
    let r = Registry::parse(&text, "features.toml").expect("parses");
    let f = r.feature("cfg_parallel").expect("feature");
    assert_eq!(f.args_for("fake"), ["--use_cfg_parallel"]);
    assert_eq!(f.args_for("other"), ["--cfg-parallel-size", "2"]);
}

#[test]
fn unsupported_per_backend_and_per_model() {
    let text = format!(
        "{MINI}\n[backends.eng]\ncommand = [\"eng\"]\n\n\
         [features.cfg_parallel.unsupported]\n\
         fake = \"fake has no CFG-parallel\"\n\
         eng = {{ \"Qwen/Qwen-Image\" = \"Qwen-Image has no CFG-parallel\", \"*\" = \"only FLUX\" }}\n\
         [features.magcache]\nbackend_args = {{ eng = [\"--cache\", \"magcache\"] }}\n"
    );
    let r = Registry::parse(&text, "features.toml").expect("parses");
    let cfg = r.feature("cfg_parallel").expect("feature");
    assert_eq!(
        cfg.unsupported_on("fake", "any").as_deref(),
        Some("fake has no CFG-parallel")
    );
    let qwen = Some("Qwen-Image has no CFG-parallel");
    assert_eq!(
        cfg.unsupported_on("eng", "Qwen/Qwen-Image").as_deref(),
        qwen
    );
    // A local copy keeps the model's limits; a longer name is another model.
    assert_eq!(
        cfg.unsupported_on("eng", "/data/Qwen/Qwen-Image/")
            .as_deref(),
        qwen
    );
    assert_eq!(
        cfg.unsupported_on("eng", "Qwen/Qwen-Image-2512").as_deref(),
        Some("only FLUX")
    );
    // No `args`, flags for one backend: every other backend cannot run it,
    // rather than run the baseline under its name.
    let mag = r.feature("magcache").expect("feature");
    assert_eq!(mag.unsupported_on("eng", "m"), None);
    let e = mag
        .unsupported_on("fake", "m")
        .expect("unsupported on fake");
    assert!(
        e.contains("no flags for magcache") && e.contains("eng only"),
        "{e}"
    );
}

/// An explicit empty flag list would run the baseline under the feature's
/// name and pass as "identical": it is as unsupported as no flags at all.
#[test]
fn an_empty_flag_list_is_no_flags() {
    let text = MINI.replace("gpus = 2\n", "gpus = 2\nbackend_args = { fake = [] }\n");
    let r = Registry::parse(&text, "features.toml").expect("parses");
    let f = r.feature("cfg_parallel").expect("feature");
    let why = f.unsupported_on("fake", "m").expect("unsupported");
    assert!(why.contains("no flags for cfg_parallel"), "{why}");
}

#[test]
fn min_gpus_is_checked() {
    let text = MINI.replace("gpus = 2\n", "gpus = 2\nmin_gpus = 1\n");
    assert!(err(&text).contains("min_gpus = 1"));
    let text = MINI.replace("gpus = 2\n", "gpus = 2\nmin_gpus = 4\n");
    let r = Registry::parse(&text, "features.toml").expect("parses");
    assert_eq!(r.feature("cfg_parallel").and_then(|f| f.min_gpus), Some(4));
}

#[test]
fn unsupported_must_name_a_backend_and_not_contradict_backend_args() {
    let e = err(&format!(
        "{MINI}\n[features.cfg_parallel.unsupported]\nfake = {{}}\n"
    ));
    assert!(e.contains("empty unsupported.fake table"), "{e}");
    let e = err(&format!(
        "{MINI}\n[features.cfg_parallel.unsupported]\nfake = 3\n"
    ));
    assert!(
        e.contains("a reason (a string) or a table of model id"),
        "{e}"
    );
    let e = err(&MINI.replace(
        "gpus = 2\n",
        "gpus = 2\nbackend_args = { fake = [\"--x\"] }\nunsupported = { fake = { \"*\" = \"no\" } }\n",
    ));
    assert!(e.contains("but is unsupported there"), "{e}");
    let e = err(&format!(
        "{MINI}\n[features.cfg_parallel.unsupported]\nxdti = \"no\"\n"
    ));
    assert!(e.contains("unsupported for unknown backend 'xdti'"), "{e}");
    let e = err(&MINI.replace(
        "gpus = 2\n",
        "gpus = 2\nbackend_args = { fake = [\"--x\"] }\nunsupported = { fake = \"no\" }\n",
    ));
    assert!(e.contains("but is unsupported there"), "{e}");
}

#[test]
fn a_conflict_may_hold_on_some_backends_only() {
    let text = format!(
        "{MINI}\n[backends.eng]\ncommand = [\"eng\"]\n\n\
         [[conflicts]]\nfeatures = [\"cfg_parallel\", \"teacache\"]\nbackends = [\"eng\"]\n"
    );
    let r = Registry::parse(&text, "features.toml").expect("parses");
    let both = ["cfg_parallel".to_string(), "teacache".to_string()];
    assert!(r.conflicts[0].holds(&both, "eng"));
    assert!(!r.conflicts[0].holds(&both, "fake"));
    assert!(!r.conflicts[0].holds(&both[..1], "eng"));
    let e = err(&text.replace("backends = [\"eng\"]", "backends = [\"egn\"]"));
    assert!(e.contains("unknown backend 'egn' in [[conflicts]]"), "{e}");
    let e = err(&text.replace("backends = [\"eng\"]", "backends = []"));
    assert!(e.contains("empty `backends` list"), "{e}");
}

#[test]
fn thresholds_precedence_feature_over_table() {
    let text = format!(
        "{}\n[thresholds]\nlossless = {{ mean = 0.05, max = 0.3 }}\nlossy = {{ mean = 0.1, fail_mean = 0.2 }}\n",
        MINI.replace("lossy = true", "lossy = true\nthresholds = { mean = 0.08 }")
    );
    let r = Registry::parse(&text, "features.toml").expect("parses");
    assert_eq!(r.thresholds.lossless_mean, 0.05);
    let t = r.thresholds_for(&["cfg_parallel".into(), "teacache".into()]);
    assert_eq!(t.lossy_mean, 0.08);
    assert_eq!(t.lossy_fail_mean, 0.2);
    assert_eq!(t.lossless_max, 0.3);
}

/// Several features with their own thresholds: each value is the strictest
/// among the configuration's features of its class (a lossless feature's
/// `mean` is a lossless threshold, a lossy one's a lossy threshold), in any
/// order, and a value no feature sets comes from `[thresholds]`.
#[test]
fn thresholds_are_the_strictest_of_several_features() {
    let text = format!(
        "{MINI}\n[features.ulysses]\nargs = [\"--ulysses-degree\", \"2\"]\ngpus = 2\n\
         thresholds = {{ mean = 0.015, max = 0.05 }}\n\n\
         [features.cache_dit]\nargs = [\"--cache-backend\", \"cache_dit\"]\nlossy = true\n\
         thresholds = {{ mean = 0.1, fail_mean = 0.2 }}\n\n\
         [thresholds]\nlossless = {{ mean = 0.04, max = 0.3 }}\nlossy = {{ mean = 0.12, fail_mean = 0.35 }}\n"
    )
    .replace(
        "gpus = 2\n\n[features.teacache]",
        "gpus = 2\nthresholds = { mean = 0.01, max = 0.1 }\n\n[features.teacache]",
    )
    .replace(
        "exclusive = \"cache-backend\"",
        "exclusive = \"cache-backend\"\nthresholds = { mean = 0.08, fail_mean = 0.25 }",
    );
    let r = Registry::parse(&text, "features.toml").expect("parses");
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let all = ids(&["cfg_parallel", "ulysses", "teacache", "cache_dit"]);
    let want = Thresholds {
        lossless_mean: 0.01,  // cfg_parallel's, under ulysses' 0.015
        lossless_max: 0.05,   // ulysses', under cfg_parallel's 0.1
        lossy_mean: 0.08,     // teacache's, under cache_dit's 0.1
        lossy_fail_mean: 0.2, // cache_dit's, under teacache's 0.25
    };
    assert_eq!(r.thresholds_for(&all), want);
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(r.thresholds_for(&reversed), want, "order does not matter");
    // One feature alone: its own values, the table's for the rest.
    assert_eq!(
        r.thresholds_for(&ids(&["ulysses"])),
        Thresholds {
            lossless_mean: 0.015,
            lossless_max: 0.05,
            lossy_mean: 0.12,
            lossy_fail_mean: 0.35,
        }
    );
    // A lossless feature's `mean` never tightens the lossy threshold (nor
    // the other way round); an unknown id changes nothing.
    assert_eq!(
        r.thresholds_for(&ids(&["cfg_parallel", "cache_dit", "nope"])),
        Thresholds {
            lossless_mean: 0.01,
            lossless_max: 0.1,
            lossy_mean: 0.1,
            lossy_fail_mean: 0.2,
        }
    );
    assert_eq!(r.thresholds_for(&[]), r.thresholds);
}

#[test]
fn threshold_out_of_range_is_rejected() {
    let e = err(&format!(
        "{MINI}\n[thresholds]\nlossless = {{ mean = 2.0 }}\n"
    ));
    assert!(e.contains("outside 0..1"), "{e}");
}

#[test]
fn unknown_feature_message_suggests() {
    let r = Registry::parse(MINI, "features.toml").expect("parses");
    assert_eq!(
        r.unknown_feature("teacach"),
        "unknown feature 'teacach' — did you mean 'teacache'?"
    );
}

#[test]
fn script_paths_are_relative_to_the_registry_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("backends")).expect("mkdir");
    std::fs::write(dir.path().join("backends/gen.py"), "").expect("script");
    let path = dir.path().join("features.toml");
    std::fs::write(
        &path,
        MINI.replace("\"fake.py\"", "\"backends/gen.py\", \"not/a/file.py\"")
            .replace(
                "\"{output_dir}\"]\n",
                "\"{output_dir}\"]\nprobe = [\"python3\", \"backends/gen.py\", \"{probe_request}\"]\n",
            ),
    )
    .expect("registry");
    let r = Registry::load(&path).expect("loads");
    let cmd = &r.backend("fake").expect("backend").command;
    // The probe runs the same script, from wherever compat runs.
    let probe = r
        .backend("fake")
        .and_then(|b| b.probe.clone())
        .expect("probe");
    let expected = dir
        .path()
        .join("backends/gen.py")
        .canonicalize()
        .expect("abs");
    assert_eq!(cmd[1], expected.display().to_string());
    assert_eq!(probe[1], expected.display().to_string());
    assert_eq!(cmd[2], "not/a/file.py", "only existing files are anchored");
    assert_eq!(cmd[4], "{output_dir}");
}

#[test]
fn reserved_and_absurd_features_are_rejected() {
    let e = err(&MINI.replace("[features.teacache]", "[features.baseline]"));
    assert!(
        e.starts_with("features.toml:11:") && e.contains("reserved for the pure baseline"),
        "{e}"
    );
    let e = err(&MINI.replace("gpus = 2", "gpus = 65536"));
    assert!(
        e.starts_with("features.toml:9:") && e.contains("at most 1024"),
        "{e}"
    );
}

proptest::proptest! {
    /// Any text is a registry or an error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        let _ = Registry::parse(&text, "features.toml");
    }

    /// Lines of the right shapes in any order and with any values: an
    /// error or a registry, never a panic.
    #[test]
    fn arbitrary_lines_of_registry_shapes_never_panic(
        lines in proptest::collection::vec(
            "(\\[features\\.[a-z_]{0,8}\\]|\\[backends\\.[a-z]{0,6}\\]|\\[\\[conflicts\\]\\]|\\[thresholds\\]|gpus = -?[0-9]{1,6}|lossy = (true|false|1)|args = \\[\"--x\"\\]|exclusive = \"g\"|features = \\[\"[a-z]{1,4}\"\\]|default_backend = \"[a-z]{1,6}\"|command = \\[\"x\"\\]|lossless = \\{ mean = -?[0-9.]{1,4} \\})",
            0..16,
        )
    ) {
        let _ = Registry::parse(&lines.join("\n"), "features.toml");
    }

    /// A well-formed feature with any valid id, GPU count and flags parses.
    #[test]
    fn well_formed_features_always_parse(
        id in "[a-z][a-z0-9_]{0,12}", gpus in 1u32..=8, lossy in proptest::bool::ANY,
    ) {
        proptest::prop_assume!(id != "baseline");
        let text = format!(
            "{MINI}\n[features.{id}]\nargs = [\"--{id}\"]\ngpus = {gpus}\nlossy = {lossy}\n"
        );
        proptest::prop_assume!(id != "cfg_parallel" && id != "teacache");
        let r = Registry::parse(&text, "features.toml").expect("parses");
        let f = r.feature(&id).expect("feature");
        proptest::prop_assert_eq!(f.gpus, gpus);
        proptest::prop_assert_eq!(f.lossy, lossy);
    }
}

/// The OS error is printed once, as the cause, not twice.
#[test]
fn an_unreadable_registry_names_the_os_error_once() {
    let err = Registry::locate(Some(std::path::Path::new("/no/such/features.toml")))
        .expect_err("missing file");
    let text = format!("{:#}", anyhow::Error::new(err));
    assert_eq!(text.matches("os error 2").count(), 1, "{text}");
}

#[test]
fn switchable_names_features_of_the_registry_once() {
    let with = |list: &str| {
        MINI.replace(
            "command = [\"python3\", \"fake.py\", \"--out\", \"{output_dir}\"]\n",
            &format!(
                "command = [\"python3\", \"fake.py\", \"--out\", \"{{output_dir}}\"]\n{list}\n"
            ),
        )
    };
    let r = Registry::parse(&with("switchable = [\"teacache\"]"), "features.toml").expect("parses");
    assert_eq!(r.backends["fake"].switchable, ["teacache"]);
    assert!(r.backends["fake"].switchable_on_bare.is_empty());

    let e = err(&with("switchable = [\"teacach\"]"));
    assert!(
        e.contains("backend 'fake': switchable names 'teacach', which is not a feature"),
        "{e}"
    );
    assert!(e.contains("teacache"), "the suggestion: {e}");
    let e = err(&with("switchable_on_bare = [\"teacache\", \"teacache\"]"));
    assert!(
        e.contains("switchable_on_bare names 'teacache' twice"),
        "{e}"
    );
    // Line and column of the list.
    assert!(e.contains("features.toml:"), "{e}");
}

#[test]
fn the_builtin_engine_cannot_claim_a_session_mode() {
    let text = "[backends.ref]\nbuiltin = \"reference\"\nswitchable = [\"teacache\"]\n\n\
                [features.teacache]\nargs = [\"--cache-backend\", \"tea_cache\"]\nlossy = true\n";
    let e = err(text);
    assert!(e.contains("the builtin engine has no session mode"), "{e}");
}

#[test]
fn sessions_is_not_a_feature_id() {
    let e = err(&MINI.replace("[features.teacache]", "[features.sessions]"));
    assert!(e.contains("feature id 'sessions' is reserved"), "{e}");
}
