-- Argo CD health check for KafkaTopic (resource.customizations.health.kafka.topic-operator.dev_KafkaTopic).
-- Healthy: Ready for the current generation. Progressing: not yet observed, creating,
-- reassigning, connecting. Suspended: the cluster is in Observe mode and the topic is in sync,
-- drifted or missing (what Observe mode reports and leaves alone), or the topic is paused (its
-- annotation kafka.topic-operator.dev/paused: a person's hold). Degraded: anything else that
-- keeps it from Ready, in either mode, or partitions offline / below min ISR. Ready is looked at
-- before the mode, so Observe mode never hides an error such as InvalidSpec.
local hs = {}
local function condition(status, type)
  if status == nil or status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == type then return c end
  end
  return nil
end
local status = obj.status
local generation = obj.metadata and obj.metadata.generation or 0
if status == nil or status.observedGeneration == nil or status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local ready = condition(status, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first reconcile"
  return hs
end
local observe = status.mode == "Observe"
local suspended = "The KafkaCluster is in Observe mode: differences are reported, not corrected"
if ready.status == "True" then
  local degraded = condition(status, "Degraded")
  if degraded ~= nil and degraded.status == "True" and degraded.reason ~= "UnderReplicated" then
    hs.status = "Degraded"
    hs.message = degraded.reason .. ": " .. degraded.message
    return hs
  end
  if observe then
    hs.status = "Suspended"
    hs.message = suspended
    return hs
  end
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end
if ready.reason == "Paused" then
  -- A pause holds the operator's writes, not Kafka's health: partitions offline or below min
  -- ISR still read Degraded.
  local degraded = condition(status, "Degraded")
  if degraded ~= nil and degraded.status == "True" and degraded.reason ~= "UnderReplicated" then
    hs.status = "Degraded"
    hs.message = degraded.reason .. ": " .. degraded.message
    return hs
  end
  hs.status = "Suspended"
  hs.message = ready.message
  return hs
end
if observe and (ready.reason == "Drifted" or ready.reason == "NotCreated") then
  hs.status = "Suspended"
  local drifted = condition(status, "Drifted")
  if drifted ~= nil and drifted.status == "True" then
    hs.message = suspended .. "; " .. drifted.message
  else
    hs.message = suspended .. "; " .. ready.message
  end
  return hs
end
if ready.reason == "Creating" or ready.reason == "Reassigning" or ready.reason == "Connecting" then
  hs.status = "Progressing"
else
  hs.status = "Degraded"
end
hs.message = ready.reason .. ": " .. ready.message
return hs
