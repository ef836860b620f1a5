-- Argo CD health check for KafkaTopic (resource.customizations.health.kafka.topic-operator.dev_KafkaTopic).
-- Healthy: Ready for the current generation. Progressing: not yet observed, creating,
-- reassigning, connecting. Suspended: the cluster is in Observe mode. Degraded: anything else
-- that keeps it from Ready, or partitions offline / below min ISR.
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
if status.mode == "Observe" then
  hs.status = "Suspended"
  hs.message = "The KafkaCluster is in Observe mode: differences are reported, not corrected"
  local drifted = condition(status, "Drifted")
  if drifted ~= nil and drifted.status == "True" then hs.message = hs.message .. "; " .. drifted.message end
  return hs
end
local ready = condition(status, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first reconcile"
  return hs
end
if ready.status == "True" then
  local degraded = condition(status, "Degraded")
  if degraded ~= nil and degraded.status == "True" and degraded.reason ~= "UnderReplicated" then
    hs.status = "Degraded"
    hs.message = degraded.reason .. ": " .. degraded.message
    return hs
  end
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end
if ready.reason == "Creating" or ready.reason == "Reassigning" or ready.reason == "Connecting" then
  hs.status = "Progressing"
else
  hs.status = "Degraded"
end
hs.message = ready.reason .. ": " .. ready.message
return hs
