// The Intune policy families Opsledger inventories, backs up and restores,
// with the Graph collection each one lives in.

export const POLICY_FAMILIES = [
  { family: 'deviceConfigurations', path: '/deviceManagement/deviceConfigurations' },
  { family: 'compliancePolicies', path: '/deviceManagement/deviceCompliancePolicies' },
  { family: 'settingsCatalog', path: '/deviceManagement/configurationPolicies' },
  { family: 'appProtection', path: '/deviceAppManagement/managedAppPolicies' },
] as const;

export type PolicyFamily = (typeof POLICY_FAMILIES)[number]['family'];

export const POLICY_FAMILY_NAMES: readonly PolicyFamily[] = POLICY_FAMILIES.map((f) => f.family);

const PATHS = new Map<string, string>(POLICY_FAMILIES.map((f) => [f.family, f.path]));

export function isPolicyFamily(value: unknown): value is PolicyFamily {
  return typeof value === 'string' && PATHS.has(value);
}

export function policyFamilyPath(family: PolicyFamily): string {
  const path = PATHS.get(family);
  if (path === undefined) throw new Error(`unknown policy family: ${String(family)}`);
  return path;
}
