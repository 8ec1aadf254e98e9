-- Argo CD health check of crucible.dev/ModelVersion: the argocd-cm key
-- resource.customizations.health.crucible.dev_ModelVersion. Progressing
-- while its artifacts are copied (or the store refuses, and the copy is
-- retried); Healthy once Ready; Degraded once it Failed (the copy's digest
-- is not the trial's, the trial's artifacts are gone, ...), with the
-- reason. internal/health tests it on the operator's own objects in every
-- phase.
local hs = {status = "Progressing", message = "Waiting for the operator to copy the version's artifacts"}

local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end

local ready = condition("Ready")
if ready == nil then
  return hs
end
local message = ready.message or ""
local phase = obj.status.phase
if phase == "Ready" then
  hs.status = "Healthy"
  hs.message = message
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. message
else
  hs.message = ready.reason .. ": " .. message
end
return hs
