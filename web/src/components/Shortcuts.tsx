import { Kbd, Modal, Table } from '@mantine/core';
import { useNavigate } from '@tanstack/react-router';
import { useEffect, useState } from 'react';

const KEYS: [string[], string][] = [
  [['/'], 'Search runs (focuses the search field, on the Operations page)'],
  [['g', 'o'], 'Go to Operations'],
  [['g', 'v'], 'Go to Overview'],
  [['?'], 'Show these shortcuts'],
  [['Esc'], 'Close a dialog or menu'],
];

/** Typing in a field is typing, not a shortcut. */
function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  return el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName);
}

/** The app's keyboard shortcuts (`/`, `g o`, `g v`, `?`) and the help dialog that lists them. */
export function Shortcuts({ tenantId }: { tenantId: string }) {
  const navigate = useNavigate();
  const [help, setHelp] = useState(false);
  useEffect(() => {
    let pendingG = 0;
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      if (e.key === '?') {
        e.preventDefault();
        setHelp(true);
        return;
      }
      if (e.key === '/') {
        e.preventDefault();
        const field = document.querySelector<HTMLInputElement>('[data-shortcut=search]');
        if (field) field.focus();
        else
          navigate({ to: '/t/$tenantId/operations', params: { tenantId } }).then(() =>
            document.querySelector<HTMLInputElement>('[data-shortcut=search]')?.focus(),
          );
        return;
      }
      if (e.key === 'g') {
        pendingG = Date.now();
        return;
      }
      if (Date.now() - pendingG < 1500) {
        pendingG = 0;
        if (e.key === 'o') navigate({ to: '/t/$tenantId/operations', params: { tenantId } });
        if (e.key === 'v') navigate({ to: '/t/$tenantId/overview', params: { tenantId } });
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [navigate, tenantId]);
  return (
    <Modal opened={help} onClose={() => setHelp(false)} title="Keyboard shortcuts" centered>
      <Table data-testid="shortcuts">
        <Table.Tbody>
          {KEYS.map(([keys, what]) => (
            <Table.Tr key={what}>
              <Table.Td style={{ whiteSpace: 'nowrap' }}>
                {keys.map((k, i) => (
                  <span key={k}>
                    {i > 0 && ' then '}
                    <Kbd>{k}</Kbd>
                  </span>
                ))}
              </Table.Td>
              <Table.Td>{what}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Modal>
  );
}
