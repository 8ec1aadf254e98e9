-- Argo CD health check of crucible.dev/Model: the argocd-cm key
-- resource.customizations.health.crucible.dev_Model. Healthy when every
-- alias resolves to a Ready version; Progressing until the operator has
-- observed the aliases and while an alias's version is being copied;
-- Degraded while an alias names a version that will not be Ready until
-- someone acts (none such, one being deleted, one that Failed), naming it.
-- internal/health tests it on the operator's own objects.
local hs = {status = "Progressing", message = "Waiting for the operator to resolve the Model's aliases"}

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

local st = obj.status
if st == nil or st.observedGeneration == nil then
  return hs
end
if st.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end
local stalled = condition("Stalled")
local ready = condition("Ready")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
elseif ready ~= nil then
  hs.message = ready.reason .. ": " .. (ready.message or "")
end
return hs
