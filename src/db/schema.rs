//! The schema, written once for both backends with portable types (Text, BigInt,
//! Timestamp); it mirrors `sql/*/` migrations (tests/db_schema.rs checks them against a live database).

diesel::table! {
    nights (production, night) {
        night -> Text,
        state -> Text,
        summary_file -> Nullable<Text>,
        summary_sha256 -> Nullable<Text>,
        sequenced_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        closed -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        production -> Text,
    }
}

diesel::table! {
    runs (production, night, run) {
        night -> Text,
        run -> BigInt,
        summary_type -> Text,
        r0_type -> Nullable<Text>,
        r0_reason -> Nullable<Text>,
        type_mismatch -> BigInt,
        subruns -> BigInt,
        source -> Nullable<Text>,
        start_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        production -> Text,
    }
}

diesel::table! {
    sequences (production, night, seq) {
        night -> Text,
        seq -> BigInt,
        parent_seq -> Nullable<BigInt>,
        run -> BigInt,
        kind -> Text,
        job_name -> Text,
        calibration_night -> Nullable<Text>,
        updated_at -> Timestamp,
        production -> Text,
    }
}

diesel::table! {
    jobs (production, night, run, stage, attempt) {
        night -> Text,
        run -> BigInt,
        attempt -> BigInt,
        executor -> Text,
        job_name -> Text,
        comment_key -> Text,
        array_range -> Text,
        partition_name -> Text,
        account -> Text,
        mem_per_cpu -> Text,
        time_limit -> Text,
        script_path -> Text,
        intent_at -> Timestamp,
        job_id -> Nullable<Text>,
        submitted_at -> Nullable<Timestamp>,
        submit_error -> Nullable<Text>,
        stage -> Text,
        production -> Text,
        stops_before -> Nullable<Text>,
    }
}

diesel::table! {
    tasks (production, night, run, stage, subrun, attempt) {
        night -> Text,
        run -> BigInt,
        subrun -> BigInt,
        attempt -> BigInt,
        state -> Text,
        exit_code -> Nullable<BigInt>,
        cpu_seconds -> Nullable<BigInt>,
        max_rss_kb -> Nullable<BigInt>,
        node -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        stage -> Text,
        production -> Text,
    }
}

diesel::table! {
    history (production, night, run, subrun, attempt, step, try_number, started_at) {
        night -> Text,
        run -> BigInt,
        subrun -> BigInt,
        attempt -> BigInt,
        step -> Text,
        try_number -> BigInt,
        program -> Text,
        prod_id -> Text,
        config -> Nullable<Text>,
        input -> Nullable<Text>,
        output -> Nullable<Text>,
        return_code -> BigInt,
        started_at -> Timestamp,
        ended_at -> Timestamp,
        log_tail -> Nullable<Text>,
        stage -> Text,
        production -> Text,
    }
}

diesel::table! {
    outputs (production, night, run, subrun, kind) {
        night -> Text,
        run -> BigInt,
        subrun -> BigInt,
        kind -> Text,
        path -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        events -> Nullable<BigInt>,
        verified_at -> Timestamp,
        verdict -> Text,
        detail -> Nullable<Text>,
        production -> Text,
    }
}

diesel::table! {
    prov_activities (id) {
        id -> Text,
        night -> Text,
        run -> BigInt,
        subrun -> Nullable<BigInt>,
        name -> Text,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        status -> Text,
        return_code -> Nullable<BigInt>,
        host -> Nullable<Text>,
        slurm_job -> Nullable<Text>,
        software -> Nullable<Text>,
        production -> Text,
        attempt -> Nullable<BigInt>,
        description_id -> Nullable<Text>,
    }
}

diesel::table! {
    prov_activity_descriptions (id) {
        id -> Text,
        name -> Text,
        program -> Text,
        kind -> Text,
    }
}

diesel::table! {
    prov_entity_descriptions (id) {
        id -> Text,
        name -> Text,
        content_type -> Text,
    }
}

diesel::table! {
    prov_usage_descriptions (activity_description_id, role) {
        activity_description_id -> Text,
        role -> Text,
        entity_description_id -> Text,
    }
}

diesel::table! {
    prov_generation_descriptions (activity_description_id, role) {
        activity_description_id -> Text,
        role -> Text,
        entity_description_id -> Text,
    }
}

diesel::table! {
    prov_entities (id) {
        id -> Text,
        night -> Text,
        run -> Nullable<BigInt>,
        location -> Text,
        kind -> Text,
        sha256 -> Nullable<Text>,
        member_of -> Nullable<Text>,
        recorded_at -> Nullable<Timestamp>,
        label -> Nullable<Text>,
        content_type -> Nullable<Text>,
    }
}

diesel::table! {
    prov_used (activity_id, entity_id, role) {
        activity_id -> Text,
        entity_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    prov_generated (activity_id, entity_id, role) {
        activity_id -> Text,
        entity_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    prov_agents (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
    }
}

diesel::table! {
    prov_associations (activity_id, agent_id) {
        activity_id -> Text,
        agent_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    prov_parameters (activity_id, name) {
        activity_id -> Text,
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        night -> Text,
        run -> Nullable<BigInt>,
        action -> Text,
        actor -> Text,
        reason -> Text,
        at -> Timestamp,
        stage -> Text,
        subruns -> Nullable<BigInt>,
        production -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    daemon_lease,
    nights,
    runs,
    sequences,
    jobs,
    tasks,
    history,
    outputs,
    prov_activities,
    prov_entities,
    prov_used,
    prov_generated,
    prov_agents,
    prov_associations,
    prov_parameters,
    prov_activity_descriptions,
    prov_entity_descriptions,
    prov_usage_descriptions,
    prov_generation_descriptions,
    audit_log
);

diesel::table! {
    daemon_lease (id) {
        id -> BigInt,
        host -> Text,
        pid -> BigInt,
        data_root -> Text,
        started_at -> Timestamp,
        heartbeat_at -> Timestamp,
    }
}
