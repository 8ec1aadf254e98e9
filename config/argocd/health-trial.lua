-- Argo CD health check of crucible.dev/Trial: the argocd-cm key
-- resource.customizations.health.crucible.dev_Trial. Progressing until the
-- trainer ran and while it runs, or waits for a reason (Pending:
-- Unschedulable, ImagePullBackOff, ...); Suspended while a queue holds its
-- Job (Queued for Kueue, Suspended for a queue the Experiment does not
-- name), as Argo CD says of a suspended Job; Healthy once it Succeeded,
-- with its objective; Degraded once it Failed, with the reason.
-- internal/health tests it on the operator's own objects in every phase.
local hs = {status = "Progressing", message = "Waiting for the trial's Pod to start"}

local function condition(t)
  if obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end

local function text(c, otherwise)
  if c == nil or c.message == nil or c.message == "" then
    return otherwise
  end
  return c.message
end

local st = obj.status
if st == nil then
  return hs
end
if st.observedGeneration ~= nil and st.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end
-- The run ended, but what it wrote could not be listed yet.
local artifacts = condition("ArtifactsRecorded")
if st.phase ~= "Succeeded" and st.phase ~= "Failed" and artifacts ~= nil and artifacts.status == "False" then
  hs.message = artifacts.reason .. ": " .. text(artifacts, "listing the trial's artifacts")
  return hs
end

if st.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = text(condition("Succeeded"), "Succeeded")
elseif st.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = (st.reason or "Failed") .. ": " .. (st.message or "the trial failed")
elseif st.phase == "Pending" then
  if st.reason == "Queued" or st.reason == "Suspended" then
    hs.status = "Suspended"
  end
  hs.message = (st.reason or "Pending") .. ": " .. (st.message or "the trial's Pod cannot start")
elseif st.phase == "Running" then
  hs.message = "Running: " .. text(condition("Reconciling"), "the trainer runs")
end
return hs
