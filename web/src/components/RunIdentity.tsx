import { ActionIcon, Badge, CopyButton, Group, Text, Tooltip } from '@mantine/core';
import type { Run } from '../api/client.ts';

const CopyIcon = ({ done }: { done: boolean }) => (
  <svg
    width="14"
    height="14"
    viewBox="0 0 24 24"
    aria-hidden="true"
    fill="none"
    stroke="currentColor"
    strokeWidth="2"
  >
    {done ? (
      <path d="M20 6 9 17l-5-5" />
    ) : (
      <>
        <rect x="9" y="9" width="13" height="13" rx="2" />
        <path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1" />
      </>
    )}
  </svg>
);

/** A small button that copies a value, says so, and is named for what it copies. */
export function Copy({ value, what }: { value: string; what: string }) {
  return (
    <CopyButton value={value} timeout={1500}>
      {({ copied, copy }) => (
        <Tooltip label={copied ? 'Copied' : `Copy ${what}`} withArrow>
          <ActionIcon
            variant="subtle"
            color="gray"
            size="sm"
            onClick={copy}
            aria-label={`Copy ${what}`}
            data-copied={copied || undefined}
          >
            <CopyIcon done={copied} />
          </ActionIcon>
        </Tooltip>
      )}
    </CopyButton>
  );
}

/** The run's short id as people say it: #123, unique in the tenant. */
export const runNumber = (run: Pick<Run, 'number'>) => `#${run.number}`;

/** The link to a run's page, absolute, for copying. */
export const runUrl = (run: Pick<Run, 'id' | 'tenantId'>) =>
  `${window.location.origin}/t/${run.tenantId}/operations/${run.id}`;

/** #123 with buttons to copy it and the run's link. */
export function RunNumber({ run, withLink = false }: { run: Run; withLink?: boolean }) {
  return (
    <Group gap={2} wrap="nowrap" data-testid="run-number">
      <Text className="mono" fw={600} c="var(--ol-muted)" style={{ whiteSpace: 'nowrap' }}>
        {runNumber(run)}
      </Text>
      <Copy value={runNumber(run)} what={`run number ${runNumber(run)}`} />
      {withLink && <Copy value={runUrl(run)} what="link to this run" />}
    </Group>
  );
}

/** "Dry run" and such, beside the title, wherever a run is named. */
export function RunTag({ run }: { run: Pick<Run, 'tag'> }) {
  if (!run.tag) return null;
  return (
    <Badge
      variant="outline"
      color="var(--ol-muted)"
      size="sm"
      data-testid="run-tag"
      style={{ flexShrink: 0 }}
    >
      {run.tag}
    </Badge>
  );
}
