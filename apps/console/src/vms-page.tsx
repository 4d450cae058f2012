export function VmsPage() {
  return (
    <section>
      <h1>VMs</h1>
    </section>
  );
}
