-- Argo CD health check of crucible.dev/Experiment: the argocd-cm key
-- resource.customizations.health.crucible.dev_Experiment. Progressing until
-- the operator has observed the spec and while the Experiment is Pending or
-- Running; Suspended while spec.suspend holds it; Healthy once it Succeeded;
-- Degraded once it Failed, with the reason. internal/health tests it on the
-- operator's own objects in every phase.
local hs = {status = "Progressing", message = "Waiting for the operator to observe the Experiment"}

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

-- text is c's message, or otherwise when c or its message is missing.
local function text(c, otherwise)
  if c == nil or c.message == nil or c.message == "" then
    return otherwise
  end
  return c.message
end

local st = obj.status
if st == nil or st.phase == nil then
  return hs
end
if st.observedGeneration ~= nil and st.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end

if st.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = text(condition("Succeeded"), "Succeeded")
  if st.bestTrial ~= nil then
    hs.message = hs.message .. "; best trial " .. st.bestTrial.name .. ": " .. obj.spec.objective.metric .. "=" .. st.bestTrial.objective
  end
elseif st.phase == "Failed" then
  hs.status = "Degraded"
  local c = condition("Failed")
  if c ~= nil then
    hs.message = c.reason .. ": " .. text(c, "the Experiment failed")
  else
    hs.message = "Failed"
  end
elseif st.phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = text(condition("Suspended"), "spec.suspend is true")
else
  hs.message = st.phase .. ": " .. text(condition("Reconciling"), text(condition("Succeeded"), "no trial has ended"))
end
return hs
