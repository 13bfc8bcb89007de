import { Paper, Stack, Text, Title } from '@mantine/core';
import { AnchorLink } from '../components/links.tsx';

/** One page for an unknown id and for anything of a tenant the caller does not belong to. */
export function NotFoundPage() {
  return (
    <Paper withBorder p="xl" m="md" data-testid="not-found">
      <Stack gap="xs">
        <Title order={1} size="h2">
          Not found
        </Title>
        <Text>There is nothing here, or it belongs to a tenant you are not a member of.</Text>
        <AnchorLink to="/">Go to your operations</AnchorLink>
      </Stack>
    </Paper>
  );
}
