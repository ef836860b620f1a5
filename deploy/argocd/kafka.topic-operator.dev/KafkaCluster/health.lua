-- Argo CD health check for KafkaCluster (resource.customizations.health.kafka.topic-operator.dev_KafkaCluster).
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
if ready == nil or ready.reason == "Connecting" then
  hs.status = "Progressing"
  hs.message = "Connecting to Kafka"
  return hs
end
if ready.status ~= "True" then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. ready.message
  return hs
end
if obj.spec ~= nil and obj.spec.policy ~= nil and obj.spec.policy.mode == "Observe" then
  hs.status = "Suspended"
  hs.message = "Observe mode: the operator reports and changes nothing"
  return hs
end
hs.status = "Healthy"
hs.message = ready.message
local autocreate = condition(status, "AutoCreateDisabled")
if autocreate ~= nil and autocreate.status == "False" and autocreate.reason == "AutoCreateEnabled" then
  hs.message = hs.message .. "; WARNING: " .. autocreate.message
end
return hs
