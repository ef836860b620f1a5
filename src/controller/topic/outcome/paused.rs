//! The outcome of a look at a paused topic: observed and planned, nothing written. Drift is
//! listed as in Observe mode; the Ready message says what waits for the pause to be lifted.

use super::*;
use crate::controller::topic::pause::Pause;

/// The report of a paused topic: `Ready=False/Paused`, the drift found, and the health as
/// observed. A replica move already under way in Kafka goes on (it is Kafka's); the status keeps
/// remembering it, so that its throttles come off and leaders are elected once the pause ends.
pub fn paused(
    facts: &Facts,
    observed: Option<ObservedTopic>,
    plan: TopicPlan,
    pause: &Pause,
) -> Outcome {
    let topic = facts.topic;
    let mut report = base_report(facts, observed, &plan);
    let previous_move = topic.status.as_ref().and_then(|s| s.reassignment.clone());
    report.reassignment =
        reassignment_status(topic, &plan, facts.cluster, facts.now).or(previous_move);
    report.verdict = Verdict::not_ready(Reason::Paused, paused_message(&plan, pause, &report));
    let mut outcome = Outcome::new(report, Ok(Requeue::await_change()));
    if !plan.drift.is_empty() && drift_changed(topic, &plan.drift) {
        outcome.events.push(Event::warning(
            "DriftDetected",
            "Paused",
            format!("paused, not corrected: {}", describe(&plan.drift)),
        ));
    }
    outcome
}

fn paused_message(plan: &TopicPlan, pause: &Pause, report: &TopicReport) -> String {
    let mut message = format!("{}: nothing is written to Kafka", pause.describe());
    if report.observed.is_none() {
        message.push_str("; the topic does not exist and is not created until the pause is lifted");
    } else if let Some(blocker) = &plan.blocker {
        message.push_str(&format!("; once lifted: {}", blocker.message));
    } else if !plan.drift.is_empty() {
        message.push_str(&format!(
            "; not corrected until the pause is lifted: {}",
            describe(&plan.drift)
        ));
    } else {
        message.push_str("; Kafka matches the declaration");
    }
    if report.reassignment.is_some() {
        message.push_str(
            "; a replica move under way in Kafka goes on, no new one starts, and its throttles stay until the pause is lifted",
        );
    }
    message
}
